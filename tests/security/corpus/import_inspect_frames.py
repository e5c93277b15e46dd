"""Walk up the call stack into the worker's frames with inspect.

expect: static
reason: import of 'inspect' is not allowed
"""

import inspect


def label(x):
    frame = inspect.currentframe().f_back
    return 1 if "rows" in frame.f_locals else 0
