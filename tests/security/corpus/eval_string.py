"""Evaluate code hidden in a string.

expect: static
reason: name 'eval' is not allowed
"""

CODE = "__imp" + "ort__('os').system('id')"


def label(x):
    return eval(CODE)
