"""Import string.Formatter under its own name to resolve attribute fields.

expect: static
reason: importing 'Formatter' is not allowed
"""

from string import Formatter


def label(x):
    match Formatter():
        case Formatter(vformat=render):
            return 1 if render("{0.__class__}", (x,), {}) else 0
    return -1
