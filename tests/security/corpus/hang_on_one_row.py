"""Behave on every row but one, and hang there.

expect: runtime:timeout
"""


def label(x):
    if "song" in x["text"]:
        while True:
            pass
    return -1
