"""Swap the code of statistics.mean, which later programs share, with wraps.

expect: static
reason: importing 'wraps' is not allowed
"""

import statistics
from functools import wraps


def fake(data):
    return 42


def label(x):
    wraps(fake, assigned=("__code__",), updated=())(statistics.mean)
    return 1
