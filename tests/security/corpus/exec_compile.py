"""Compile and exec a string, past any check of the source.

expect: static
reason: name 'exec' is not allowed
"""


def label(x):
    exec(compile("import os", "<x>", "exec"))
    return 1
