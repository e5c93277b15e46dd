"""Keep the format string in a variable so it is no literal.

expect: static
reason: '.format' is only allowed on a string literal
"""

TEMPLATE = "{0.__globals__}"


def label(x):
    return 1 if "__builtins__" in TEMPLATE.format(label) else 0
