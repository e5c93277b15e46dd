"""Crash the worker or poke memory through ctypes.

expect: static
reason: import of 'ctypes' is not allowed
"""

import ctypes


def label(x):
    return ctypes.string_at(0, 1)[0]
