"""Bind str.format of a non-literal string through a class pattern.

expect: static
reason: reading 'format' in a class pattern is not allowed
"""

FIELDS = "{0.__class__.__base__.__subclasses__}"


def label(x):
    match FIELDS:
        case str(format=render):
            return 1 if "built-in method" in render(x) else 0
    return -1
