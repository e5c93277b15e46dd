"""Read the real builtins from globals().

expect: static
reason: name 'globals' is not allowed
"""


def label(x):
    return 1 if "open" in globals()["__builtins__"] else 0
