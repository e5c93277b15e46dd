"""Returns a class name instead of an index: every output is invalid."""


def label(x):
    return "billing"
