"""Allocate a 10 GB string.

expect: runtime:faults
reason: MemoryError
"""


def label(x):
    return len("x" * 10 ** 10) % 2
