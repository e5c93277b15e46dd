"""Read __class__ through a class pattern instead of an attribute.

expect: static
reason: '__class__' is a dunder attribute
"""


def label(x):
    match x:
        case object(__class__=cls):
            return 1 if cls else 0
    return -1
