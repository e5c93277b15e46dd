"""Grow a string a thousandfold at a time until memory runs out.

expect: runtime:faults
reason: MemoryError
"""


def label(x):
    s = x["text"]
    while True:
        s = s * 1000
