"""Consume an endless iterator in C: deque(itertools.count(), maxlen=0).

expect: runtime:quarantined
reason: ignored its
"""

import collections
import itertools


def label(x):
    collections.deque(itertools.count(), maxlen=0)
    return 1
