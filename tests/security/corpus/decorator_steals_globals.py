"""A decorator that grabs the decorated function's globals.

expect: static
reason: '__globals__' is a dunder attribute
"""

STOLEN = []


def grab(f):
    STOLEN.append(f.__globals__)
    return f


@grab
def label(x):
    return 1 if STOLEN else 0
