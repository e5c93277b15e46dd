"""Keep running in a finally block after the timeout fires.

expect: static
reason: 'finally' is not allowed
"""


def label(x):
    try:
        while True:
            pass
    finally:
        while True:
            pass
