"""Zero the like count in the row's nested dict.

expect: runtime:faults
reason: does not support item assignment
"""


def label(x):
    x["meta"]["likes"] = 0
    return 1
