"""Swallow the timeout with except BaseException.

expect: static
reason: 'except BaseException' is not allowed
"""


def label(x):
    while True:
        try:
            while True:
                pass
        except BaseException:
            continue
