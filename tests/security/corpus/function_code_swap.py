"""Replace a function's code object to change what it runs.

expect: static
reason: '__code__' is a dunder attribute
"""


def evil(x):
    return 1


def label(x):
    label.__code__ = evil.__code__
    return 0
