"""Reach os through a module that statistics imported: statistics.sys.modules['os'].

expect: runtime:faults
reason: module 'statistics' has no attribute 'sys'
"""

import statistics


def label(x):
    os = statistics.sys.modules["os"]
    fd = os.open("/proc/%d/environ" % os.getppid(), os.O_RDONLY)
    return 1 if b"OPENAI_API_KEY" in os.read(fd, 1 << 20) else 0
