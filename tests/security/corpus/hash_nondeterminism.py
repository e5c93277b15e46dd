"""Vote by string hash, which differs between processes.

expect: static
reason: name 'hash' is not allowed
"""


def label(x):
    return hash(x["text"]) % 2
