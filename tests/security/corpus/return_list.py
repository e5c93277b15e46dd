"""Return a list of one vote.

expect: runtime:invalid
reason: returned [1]
"""


def label(x):
    return [1]
