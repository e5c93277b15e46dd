"""Ignore SIGALRM so the time limit never fires.

expect: static
reason: import of 'signal' is not allowed
"""

import signal


def label(x):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        pass
