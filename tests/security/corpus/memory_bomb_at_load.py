"""Exhaust memory while the module loads.

expect: runtime:quarantined
reason: MemoryError
"""

TABLE = [0] * 10 ** 10


def label(x):
    return 1
