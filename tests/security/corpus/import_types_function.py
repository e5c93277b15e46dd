"""Build a function from a code object with types.FunctionType.

expect: static
reason: import of 'types' is not allowed
"""

import types


def label(x):
    f = types.FunctionType(label.__code__, {})
    return f(x)
