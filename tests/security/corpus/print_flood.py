"""Print megabytes per row to corrupt the worker's output channel.

expect: runtime:invalid
reason: returned None
"""


def label(x):
    return print("\x00" * 10 ** 6, x)
