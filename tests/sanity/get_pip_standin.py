"""Stand-in for get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs ``python get-pip.py [pip options] pip==X`` inside each fresh sanity venv; we
bootstrap pip from the interpreter's own ensurepip and then install the requested pip from the
package registry, which is what get-pip.py does.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check'] + args)
