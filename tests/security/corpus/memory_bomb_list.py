"""Allocate a list of ten billion items.

expect: runtime:faults
reason: MemoryError
"""


def label(x):
    return len([0] * 10 ** 10) % 2
