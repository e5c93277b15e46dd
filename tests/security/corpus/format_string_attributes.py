"""Read attributes inside a format string: '{0.__class__}'.format(x).

expect: static
reason: '.format' is only allowed on a string literal
"""


def label(x):
    return 1 if "mappingproxy" in "{0.__class__}".format(x) else 0
