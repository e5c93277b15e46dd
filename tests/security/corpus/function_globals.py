"""Reach the program's real builtins through label.__globals__.

expect: static
reason: '__globals__' is a dunder attribute
"""


def label(x):
    builtins = label.__globals__["__builtins__"]
    return 1 if "open" in builtins else 0
