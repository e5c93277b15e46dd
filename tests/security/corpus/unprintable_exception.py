"""Raise an exception whose message cannot be rendered.

expect: runtime:faults
reason: <unprintable>
"""


def label(x):
    nested = []
    for _ in range(10000):
        nested = [nested]
    raise ValueError(nested)
