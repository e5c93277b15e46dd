"""An endless generator expression over itertools.count.

expect: runtime:timeout
"""

import itertools


def label(x):
    return sum(1 for _ in itertools.count()) % 2
