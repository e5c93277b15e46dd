"""Run os.system through a crafted pickle.

expect: static
reason: import of 'pickle' is not allowed
"""

import pickle

PAYLOAD = b"cos\nsystem\n(S'touch /tmp/alchemist-pwned'\ntR."


def label(x):
    pickle.loads(PAYLOAD)
    return 1
