"""Return NaN.

expect: runtime:invalid
reason: returned nan
"""


def label(x):
    return float("nan")
