"""Delete the files of the project the pipeline runs from (the parent's cwd) through statistics.sys.

expect: runtime:faults
reason: module 'statistics' has no attribute 'sys'
"""

import statistics


def label(x):
    os = statistics.sys.modules["os"]
    project = "/proc/%d/cwd" % os.getppid()
    for name in os.listdir(project):
        os.remove(os.path.join(project, name))
    return 1
