"""Append a tag to the row's list field.

expect: runtime:faults
reason: AttributeError
"""


def label(x):
    x["tags"].append("promo")
    return 1
