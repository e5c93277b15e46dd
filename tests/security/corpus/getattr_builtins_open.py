"""Fetch open() from __builtins__ with getattr.

expect: static
reason: name 'getattr' is not allowed
"""


def label(x):
    opener = getattr(__builtins__, "open", None) or __builtins__["open"]
    return 1 if opener("/etc/passwd") else 0
