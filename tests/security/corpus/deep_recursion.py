"""Recurse without end.

expect: runtime:faults
reason: RecursionError
"""


def label(x):
    return label(x)
