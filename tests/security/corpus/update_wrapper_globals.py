"""Copy re's module globals (real builtins included) into the program with update_wrapper.

expect: static
reason: attribute 'update_wrapper' is not allowed
"""

import functools
import re


def holder():
    return 0


def label(x):
    functools.update_wrapper(holder, re.compile, assigned=(), updated=("__globals__",))
    reach = lambda: enum  # noqa: F821  # injected from re's globals
    return 1 if reach().bltns.open("/etc/hostname").read() else 0
