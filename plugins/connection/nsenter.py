# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection plugin: run tasks inside the namespaces of a holder process (a simulated host)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: nsenter
short_description: Run tasks inside the namespaces of a local holder process (a simulated host)
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Runs every command of a task through C(nsenter --target PID --net --mount --uts --ipc --pid -- ...)
    on the controller, so modules, facts and commands see the network, mount, UTS, IPC and PID
    namespaces of the holder process C(PID) as their own host.
  - This is how Ansible reaches the simulated hosts that the C(linuxnet.overlay.lab) role makes
    (C(ansible-playbook linuxnet.overlay.lab_up)); the inventory that C(lab_up) writes sets
    O(nsenter_pidfile) for every node.
  - File transfers (C(copy), C(template), C(fetch) and non-pipelined modules) are streamed through
    C(nsenter) with C(cat), so paths that exist only in the node's mount namespace work and large
    files are never read into memory.
  - The PID is read when the connection is made. If the process is gone, the host is reported
    unreachable with a message that names the host and the PID.
  - For safety, a PID that shares the controller's network namespace (for example PID 1) is refused,
    so a wrong inventory cannot configure the controller's own network.
notes:
  - Requires root on the controller (C(nsenter) into other namespaces), util-linux C(nsenter).
  - The remote user is ignored; commands run as the controller user (root).
  - Set C(ansible_python_interpreter) explicitly (the lab inventory uses C({{ ansible_playbook_python }}));
    interpreter discovery may find a Python that lacks the collection's dependencies.
  - Holders made with a PID namespace (as the lab's are) need C(pid) in O(nsenter_namespaces);
    a process that enters such a node's mount namespace without its PID namespace sees a C(/proc)
    without itself and tools like C(ip netns exec) fail.
extends_documentation_fragment:
  - connection_pipelining
options:
  nsenter_pid:
    description:
      - PID of the holder process whose namespaces the tasks run in.
      - Ignored when O(nsenter_pidfile) is set.
    type: int
    vars:
      - name: ansible_nsenter_pid
    env:
      - name: LINUXNET_NSENTER_PID
  nsenter_pidfile:
    description:
      - File holding the holder's PID (the first word of the file), read each time a connection
        is made, so an inventory that names the file survives a restart of the holder.
      - The lab writes C(<lab folder>/nodes/<node>/holder.pid).
    type: path
    vars:
      - name: ansible_nsenter_pidfile
    env:
      - name: LINUXNET_NSENTER_PIDFILE
  nsenter_namespaces:
    description:
      - Namespaces to enter, as C(nsenter) long option names.
    type: list
    elements: str
    choices: [net, mount, uts, ipc, pid, cgroup, user, time]
    default: [net, mount, uts, ipc, pid]
    vars:
      - name: ansible_nsenter_namespaces
  nsenter_exe:
    description: The C(nsenter) program to run.
    type: str
    default: nsenter
    vars:
      - name: ansible_nsenter_exe
  become_success_timeout:
    description:
      - Number of seconds to wait for become to succeed when enabled (as for the local connection).
    type: int
    default: 10
    vars:
      - name: ansible_local_become_success_timeout
  become_strip_preamble:
    description:
      - Strip internal become output preceding command execution (as for the local connection).
    type: bool
    default: true
    vars:
      - name: ansible_local_become_strip_preamble
"""

EXAMPLES = r"""
# Inventory written by linuxnet.overlay.lab_up (excerpt)
# all:
#   vars:
#     ansible_connection: linuxnet.overlay.nsenter
#     ansible_python_interpreter: "{{ ansible_playbook_python }}"
#   children:
#     swarm_managers:
#       hosts:
#         node1:
#           ansible_nsenter_pidfile: /srv/repo/lab/seed/nodes/node1/holder.pid

# Ad hoc, with a PID:
#   ansible all -i node1, -c linuxnet.overlay.nsenter -e ansible_nsenter_pid=12345 \
#     -e ansible_python_interpreter=/usr/bin/python3 -m ansible.builtin.setup
"""

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection.local import Connection as LocalConnection
from ansible.utils.display import Display
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import procs as _procs

display = Display()

_NS_FLAGS = {'net': '--net', 'mount': '--mount', 'uts': '--uts', 'ipc': '--ipc', 'pid': '--pid',
             'cgroup': '--cgroup', 'user': '--user', 'time': '--time'}


class Connection(LocalConnection):
    """The local connection with every command wrapped in nsenter."""

    transport = 'linuxnet.overlay.nsenter'
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pid = None

    # -- target -------------------------------------------------------------------------------
    @property
    def _host(self):
        return self._play_context.remote_addr or 'host'

    def _resolve_pid(self):
        pidfile = self.get_option('nsenter_pidfile')
        if pidfile:
            try:
                with open(to_bytes(pidfile), 'rb') as f:
                    word = f.read(64).split()
            except FileNotFoundError:
                raise AnsibleConnectionFailure(
                    '%s: pid file %s does not exist; the lab is not up: run linuxnet.overlay.lab_up'
                    % (self._host, pidfile)) from None
            except OSError as exc:
                raise AnsibleConnectionFailure('%s: cannot read pid file %s: %s' % (self._host, pidfile, exc)) from None
            try:
                return int(word[0])
            except (IndexError, ValueError):
                raise AnsibleConnectionFailure('%s: pid file %s does not hold a pid' % (self._host, pidfile)) from None
        pid = self.get_option('nsenter_pid')
        if pid is None:
            raise AnsibleConnectionFailure('%s: set ansible_nsenter_pid or ansible_nsenter_pidfile' % self._host)
        return int(pid)

    def _check_target(self, pid):
        if pid <= 0 or not _procs.alive(pid):
            raise AnsibleConnectionFailure('%s: holder pid %d is not running; run linuxnet.overlay.lab_up'
                                           % (self._host, pid))
        try:
            theirs = os.readlink('/proc/%d/ns/net' % pid)
            ours = os.readlink('/proc/self/ns/net')
        except OSError as exc:
            raise AnsibleConnectionFailure('%s: cannot inspect the namespaces of pid %d: %s (run as root)'
                                           % (self._host, pid, exc)) from None
        if theirs == ours and 'net' in self.get_option('nsenter_namespaces'):
            raise AnsibleConnectionFailure(
                '%s: pid %d shares the controller\'s network namespace; refusing to run there '
                '(is the pid file stale or the inventory wrong?)' % (self._host, pid))

    def _connect(self):
        if not self._connected:
            pid = self._resolve_pid()
            self._check_target(pid)
            self._pid = pid
            display.vvv('ESTABLISH NSENTER CONNECTION TO PID %d' % pid, host=self._host)
        return super()._connect()

    def _prefix(self):
        flags = []
        for ns in self.get_option('nsenter_namespaces'):
            if ns not in _NS_FLAGS:
                raise AnsibleError('%s: unknown namespace %r in nsenter_namespaces' % (self._host, ns))
            flags.append(_NS_FLAGS[ns])
        return [self.get_option('nsenter_exe'), '--target', str(self._pid)] + flags + ['--']

    def _gone(self, rc):
        """After a failure, tell 'the holder died' apart from 'the command failed'."""
        if rc != 0 and not _procs.alive(self._pid):
            raise AnsibleConnectionFailure('%s: holder pid %d is not running; run linuxnet.overlay.lab_up'
                                           % (self._host, self._pid))

    # -- commands -------------------------------------------------------------------------------
    def exec_command(self, cmd, in_data=None, sudoable=True):
        if not self._connected:
            self._connect()
        # The shell plugin gives one command string; run it with /bin/sh inside the node. The local
        # connection runs a string with the controller's /bin/sh, so the argv is quoted for it.
        if isinstance(cmd, (str, bytes)):
            argv = self._prefix() + ['/bin/sh', '-c', to_text(cmd)]
        else:
            argv = self._prefix() + [to_text(c) for c in cmd]
        rc, out, err = super().exec_command(shlex.join(argv), in_data=in_data, sudoable=sudoable)
        self._gone(rc)
        return rc, out, err

    def _stream(self, script, path, stdin=None, stdout=None):
        argv = self._prefix() + ['/bin/sh', '-c', script, 'nsenter-transfer', path]
        display.vvv('EXEC %s' % ' '.join(shlex.quote(a) for a in argv), host=self._host)
        proc = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, check=False)
        self._gone(proc.returncode)
        return proc

    def put_file(self, in_path, out_path):
        if not self._connected:
            self._connect()
        display.vvv('PUT %s TO %s' % (in_path, out_path), host=self._host)
        if not os.path.exists(to_bytes(in_path, errors='surrogate_or_strict')):
            raise AnsibleFileNotFound('file or module does not exist: %s' % to_native(in_path))
        with open(to_bytes(in_path, errors='surrogate_or_strict'), 'rb') as src:
            proc = self._stream('cat > "$1"', out_path, stdin=src, stdout=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AnsibleError('%s: failed to transfer file to %s: %s'
                               % (self._host, out_path, to_native(proc.stderr).strip()))

    def fetch_file(self, in_path, out_path):
        if not self._connected:
            self._connect()
        display.vvv('FETCH %s TO %s' % (in_path, out_path), host=self._host)
        b_out = to_bytes(out_path, errors='surrogate_or_strict')
        try:
            with open(b_out, 'wb') as dst:
                proc = self._stream('cat -- "$1"', in_path, stdin=subprocess.DEVNULL, stdout=dst)
        except OSError as exc:
            raise AnsibleError('%s: cannot write %s: %s' % (self._host, out_path, exc)) from None
        if proc.returncode != 0:
            os.unlink(b_out)
            raise AnsibleError('%s: failed to fetch %s: %s' % (self._host, in_path, to_native(proc.stderr).strip()))

    def reset(self):
        self.close()

    def close(self):
        self._connected = False
        self._pid = None
