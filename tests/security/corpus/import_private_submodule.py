"""Use re's private compiler module to reach _sre.

expect: static
reason: import of private module 're._compiler' is not allowed
"""

import re._compiler


def label(x):
    return 1 if re._compiler else 0
