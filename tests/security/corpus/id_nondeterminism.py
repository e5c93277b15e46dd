"""Vote by memory address, which differs from run to run.

expect: static
reason: name 'id' is not allowed
"""


def label(x):
    return id(x) % 2
