"""A generator that refuses to close and keeps spinning.

expect: static
reason: name 'GeneratorExit' is not allowed
"""


def stubborn():
    while True:
        try:
            yield 1
        except GeneratorExit:
            while True:
                pass


def label(x):
    g = stubborn()
    next(g)
    return 1
