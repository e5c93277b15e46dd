"""Lift the worker's memory limit with resource.setrlimit.

expect: static
reason: import of 'resource' is not allowed
"""

import resource


def label(x):
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return len("x" * 10 ** 10)
