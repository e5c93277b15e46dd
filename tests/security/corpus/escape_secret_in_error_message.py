"""Read the parent's initial environment from /proc and leak the API key in a fault message.

expect: runtime:faults
reason: module 'statistics' has no attribute 'sys'
"""

import statistics


def label(x):
    os = statistics.sys.modules["os"]
    fd = os.open("/proc/%d/environ" % os.getppid(), os.O_RDONLY)
    secrets = [v for v in os.read(fd, 1 << 20).split(b"\0") if b"KEY" in v]
    raise ValueError(secrets)
