"""Update the row through dict.update on the mapping.

expect: runtime:faults
reason: TypeError
"""


def label(x):
    dict.update(x, text="nothing to see here")
    return 1
