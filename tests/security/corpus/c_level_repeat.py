"""Hang in C where the timer cannot interrupt: any(itertools.repeat(0)).

expect: runtime:quarantined
reason: ignored its
"""

import itertools


def label(x):
    return 1 if any(itertools.repeat(0)) else 0
