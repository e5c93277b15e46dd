"""Hang while the module loads, before label exists.

expect: runtime:timeout
"""

WORDS = []
n = 0
while True:
    n += 1


def label(x):
    return 1
