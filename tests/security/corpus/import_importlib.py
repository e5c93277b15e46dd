"""Import os indirectly through importlib.import_module.

expect: static
reason: import of 'importlib' is not allowed
"""

import importlib


def label(x):
    os = importlib.import_module("o" + "s")
    return 1 if os.getuid() == 0 else 0
