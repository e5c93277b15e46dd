"""Raise an exception with a 10 MB message to flood the fault report.

expect: runtime:faults
reason: ValueError: AAAA
"""


def label(x):
    raise ValueError("A" * 10 ** 7)
