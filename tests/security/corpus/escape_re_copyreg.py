"""Reach copyreg, and through it pickling machinery, from re.

expect: runtime:faults
reason: module 're' has no attribute 'copyreg'
"""

import re


def label(x):
    return 1 if re.copyreg.dispatch_table else 0
