"""Load a hand-made code object with marshal.

expect: static
reason: import of 'marshal' is not allowed
"""

import marshal


def label(x):
    code = marshal.loads(bytes.fromhex("e3000000"))
    return 1 if code else 0
