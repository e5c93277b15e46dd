"""Build a class with type() to define hostile dunder methods.

expect: static
reason: name 'type' is not allowed
"""


def label(x):
    Evil = type("Evil", (), {"__eq__": lambda self, other: True})
    return 1 if Evil() == 0 else 0
