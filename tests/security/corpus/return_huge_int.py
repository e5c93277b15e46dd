"""Return an integer with 100 000 digits.

expect: runtime:invalid
reason: returned <int>
"""


def label(x):
    return 10 ** 100000
