"""Return class 7 when there are 2.

expect: runtime:invalid
reason: returned 7
"""


def label(x):
    return 7
