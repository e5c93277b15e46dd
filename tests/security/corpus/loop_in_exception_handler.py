"""Raise and catch forever.

expect: runtime:timeout
"""


def label(x):
    n = 0
    while True:
        try:
            n += 1 / 0
        except ZeroDivisionError:
            n += 1
