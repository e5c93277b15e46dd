"""Import everything from re, private helpers included.

expect: static
reason: 'from re import *' is not allowed
"""

from re import *  # noqa: F403


def label(x):
    return 1 if search("free", x["text"]) else -1  # noqa: F405
