"""Return a million-item list.

expect: runtime:invalid
reason: returned [0, 0, 0
"""


def label(x):
    return [0] * 10 ** 6
