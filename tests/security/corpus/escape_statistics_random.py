"""Vote at random through statistics.random, a different answer every run.

expect: runtime:faults
reason: module 'statistics' has no attribute 'random'
"""

import statistics


def label(x):
    return statistics.random.randrange(2)
