"""Read /etc/shadow through io.open.

expect: static
reason: import of 'io' is not allowed
"""

import io


def label(x):
    return 1 if io.open("/etc/shadow").read() else 0
