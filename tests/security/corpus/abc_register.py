"""Register str as a Mapping, changing isinstance for later programs.

expect: static
reason: attribute 'register' is not allowed
"""

from collections import abc


def label(x):
    abc.Mapping.register(str)
    return 1
