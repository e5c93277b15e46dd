"""Sleep by counting, since time cannot be imported.

expect: runtime:timeout
"""


def label(x):
    n = 0
    while n < 10 ** 12:
        n += 1
    return 1
