"""Read /etc/passwd with the open() builtin.

expect: static
reason: name 'open' is not allowed
"""


def label(x):
    with_root = "root" in open("/etc/passwd").read()
    return 1 if with_root else 0
