"""Truncate a file of the parent's project through re.enum.sys.

expect: runtime:faults
reason: module 're' has no attribute 'enum'
"""

import re


def label(x):
    os = re.enum.sys.modules["os"]
    project = "/proc/%d/cwd" % os.getppid()
    for name in os.listdir(project):
        os.close(os.open(os.path.join(project, name), os.O_WRONLY | os.O_TRUNC))
    return 1
