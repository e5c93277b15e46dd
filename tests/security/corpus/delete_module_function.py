"""Delete re.search so later programs fail.

expect: static
reason: assigning or deleting attribute 'search' is not allowed
"""

import re


def label(x):
    del re.search
    return 1
