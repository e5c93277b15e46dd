"""Empty the row for the programs that run after this one.

expect: runtime:faults
reason: AttributeError
"""


def label(x):
    x.clear()
    return 1
