"""Leak the parent's API key one bit per row through the votes.

expect: runtime:faults
reason: module 're' has no attribute 'enum'
"""

import re

ROW = [0]


def label(x):
    os = re.enum.sys.modules["os"]
    fd = os.open("/proc/%d/environ" % os.getppid(), os.O_RDONLY)
    secret = [v for v in os.read(fd, 1 << 20).split(b"\0") if v.startswith(b"OPENAI_API_KEY=")][0]
    i = ROW[0]
    ROW[0] += 1
    return (secret[i // 8] >> (i % 8)) & 1
