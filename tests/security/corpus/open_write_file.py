"""Overwrite a file in the working directory.

expect: static
reason: name 'open' is not allowed
"""


def label(x):
    handle = open("../../pyproject.toml", "w")
    handle.write("pwned")
    return 1
