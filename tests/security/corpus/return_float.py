"""Return a float class index.

expect: runtime:invalid
reason: returned 1.0
"""


def label(x):
    return 1.0
