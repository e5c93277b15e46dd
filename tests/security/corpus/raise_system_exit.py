"""Stop the worker with SystemExit.

expect: static
reason: name 'SystemExit' is not allowed
"""


def label(x):
    raise SystemExit(0)
