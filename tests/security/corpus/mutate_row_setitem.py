"""Overwrite the text so the programs after this one see something else.

expect: runtime:faults
reason: does not support item assignment
"""


def label(x):
    x["text"] = "nothing to see here"
    return 1
