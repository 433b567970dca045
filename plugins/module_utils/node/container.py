# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A task that runs an image: its command is a podman container in the task's namespace.

Why this shape: the task's namespace, interfaces, hosts file and addresses stay the task
module's, exactly as for a host command; podman only supplies the file system and the process.
podman runs *in* the namespace (``nsenter --net``) with ``--network host``, which shares the
namespace it is started in: ``--network ns:<path>`` from inside that same namespace is refused
by the OCI runtime ("sysctl not allowed in host network namespace"), and ``ip netns exec``
cannot be the launcher because it remounts /sys without the cgroup file systems podman needs.
The podman client stays in the foreground (``--rm --replace``): it is the task's process, its
exit status is the container's, so the plain start check and the runsv supervision work for a
container as for any command. ``--pull=never``: a node never reaches for a registry; a missing
image is an error before anything of the run changes."""

from __future__ import annotations

import shutil
import subprocess


PODMAN = 'podman'


class ContainerError(Exception):
    pass


def podman_argv(name, image, command, hosts_path=None):
    """The foreground ``podman run`` of a task (pure): named and hostnamed after the task, the
    task's hosts file as /etc/hosts, the image's own command when ``command`` is empty."""
    argv = [PODMAN, 'run', '--rm', '--replace', '--pull=never', '--name', name, '--network', 'host',
            '--hostname', name[:63], '--no-hosts']
    if hosts_path:
        argv += ['--volume', '%s:/etc/hosts:ro' % hosts_path]
    return argv + [image] + list(command)


def launcher(netns_path):
    """What starts a program in the task's network namespace and nothing else (see the top)."""
    return ['nsenter', '--net=%s' % netns_path]


def binary():
    path = shutil.which(PODMAN)
    if path is None:
        raise ContainerError('podman is not installed on this node: a task with an image needs it '
                             '(Debian: apt install podman)')
    return path


def _podman(*args):
    return subprocess.run([binary()] + list(args), capture_output=True, text=True, check=False)


def image_exists(image):
    proc = _podman('image', 'exists', image)
    if proc.returncode not in (0, 1):
        raise ContainerError('podman image exists %s failed (%d): %s' % (image, proc.returncode, proc.stderr.strip()))
    return proc.returncode == 0


def check_images(images, node):
    """Every image a node's tasks run is on the node, else one error naming them and the node,
    raised before the run changes anything there."""
    images = sorted(set(i for i in images if i))
    if not images:
        return
    missing = [i for i in images if not image_exists(i)]
    if missing:
        raise ContainerError('image %s not on node %s (podman image exists; images are not pulled: '
                             'load or build them on the node first, e.g. podman load or podman import)'
                             % (', '.join(missing), node))


def exists(name):
    """Whether podman knows a container of this name (running or not)."""
    if shutil.which(PODMAN) is None:
        return False
    return _podman('container', 'exists', name).returncode == 0


def remove(name, timeout):
    """Stop (SIGTERM, then SIGKILL after ``timeout`` s, as podman stop) and forget the container."""
    proc = _podman('rm', '--force', '--ignore', '--time', str(max(0, int(round(timeout)))), name)
    if proc.returncode != 0:
        raise ContainerError('podman rm %s failed (%d): %s' % (name, proc.returncode, proc.stderr.strip()))
