"""Reach os through sys.modules, which the worker already holds.

expect: static
reason: import of 'sys' is not allowed
"""

import sys


def label(x):
    return 1 if "OPENAI_API_KEY" in sys.modules["os"].environ else 0
