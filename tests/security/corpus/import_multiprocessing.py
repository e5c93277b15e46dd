"""Fork a process that outlives the worker.

expect: static
reason: import of 'multiprocessing' is not allowed
"""

import multiprocessing


def spin():
    while True:
        pass


def label(x):
    multiprocessing.Process(target=spin).start()
    return 1
