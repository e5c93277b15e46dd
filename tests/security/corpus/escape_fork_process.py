"""Fork a child process through statistics.sys.modules['os'].

expect: runtime:faults
reason: module 'statistics' has no attribute 'sys'
"""

import statistics


def label(x):
    pid = statistics.sys.modules["os"].fork()
    return 1 if pid else 0
