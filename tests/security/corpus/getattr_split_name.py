"""Hide a dunder attribute in a concatenated string for getattr.

expect: static
reason: name 'getattr' is not allowed
"""


def label(x):
    cls = getattr(x, "__cl" + "ass__")
    return 1 if cls else 0
