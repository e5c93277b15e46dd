"""Get BaseException through mro() and catch the timeout with it.

expect: static
reason: attribute 'mro' is not allowed
"""

CATCH_ALL = ValueError.mro()[-2]


def label(x):
    while True:
        try:
            while True:
                pass
        except CATCH_ALL:
            pass
