"""Reach the real open() through re.enum.bltns and read a file.

expect: runtime:faults
reason: module 're' has no attribute 'enum'
"""

import re


def label(x):
    real_builtins = re.enum.bltns
    return 1 if "root" in real_builtins.open("/etc/passwd").read() else 0
