"""Climb from a row to its type.

expect: static
reason: '__class__' is a dunder attribute
"""


def label(x):
    return 1 if x.__class__.__name__ == "mappingproxy" else 0
