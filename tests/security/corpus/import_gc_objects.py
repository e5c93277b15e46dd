"""Search every live object for secrets with gc.get_objects.

expect: static
reason: import of 'gc' is not allowed
"""

import gc


def label(x):
    found = [o for o in gc.get_objects() if isinstance(o, str) and o.startswith("sk-")]
    return 1 if found else 0
