"""Swallow the timeout with a bare except.

expect: static
reason: bare 'except:' is not allowed
"""


def label(x):
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722
            pass
