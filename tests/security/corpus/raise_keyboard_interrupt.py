"""Fake a Ctrl-C with KeyboardInterrupt.

expect: static
reason: name 'KeyboardInterrupt' is not allowed
"""


def label(x):
    raise KeyboardInterrupt
