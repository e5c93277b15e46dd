"""Grow a bytearray without bound (bytearray is not among the builtins).

expect: runtime:faults
reason: NameError
"""


def label(x):
    buffer = bytearray()
    while True:
        buffer.extend(b"x" * 10 ** 6)
