"""Return -2, a negative vote other than ABSTAIN.

expect: runtime:invalid
reason: returned -2
"""


def label(x):
    return -2
