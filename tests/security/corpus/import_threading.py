"""Start a thread that keeps running after the program's time is up.

expect: static
reason: import of 'threading' is not allowed
"""

import threading


def spin():
    while True:
        pass


def label(x):
    threading.Thread(target=spin, daemon=True).start()
    return 1
