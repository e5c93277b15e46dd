"""Return the class name instead of its index.

expect: runtime:invalid
reason: returned 'spam'
"""


def label(x):
    return "spam"
