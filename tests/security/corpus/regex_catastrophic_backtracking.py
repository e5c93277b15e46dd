"""Catastrophic regex backtracking: (a+)+$ on 40 a's and a b.

expect: runtime:timeout
"""

import re


def label(x):
    return 1 if re.match(r"(a+)+$", "a" * 40 + "b") else 0
