"""List a namespace with vars() and dir() to find something useful.

expect: static
reason: name 'vars' is not allowed
"""


def label(x):
    names = dir(x) + list(vars().keys())
    return 1 if "__class__" in names else 0
