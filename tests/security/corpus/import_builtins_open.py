"""Recover the real open() from the builtins module.

expect: static
reason: import of 'builtins' is not allowed
"""

import builtins


def label(x):
    return 1 if "root" in builtins.open("/etc/passwd").read() else 0
