"""Call int() forever in C through iter(int, 1).

expect: runtime:quarantined
reason: ignored its
"""


def label(x):
    return 1 if any(iter(int, 1)) else 0
