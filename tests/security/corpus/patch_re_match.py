"""Replace re.match for the programs that run later in the same worker.

expect: static
reason: assigning or deleting attribute 'match' is not allowed
"""

import re


def never(*args, **kwargs):
    return None


def label(x):
    re.match = never
    re.search = never
    return 1
