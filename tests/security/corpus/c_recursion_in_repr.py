"""Overflow the C stack with the repr of a deeply nested list.

expect: runtime:faults
reason: RecursionError
"""


def label(x):
    nested = []
    for _ in range(10000):
        nested = [nested]
    return len(repr(nested)) % 2
