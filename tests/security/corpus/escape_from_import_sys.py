"""Import sys by name from a module that imported it.

expect: runtime:quarantined
reason: cannot import name 'sys' from 'statistics'
"""

from statistics import sys


def label(x):
    return 1 if sys.modules else 0
