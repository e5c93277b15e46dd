"""Delete the user's home directory with shutil.rmtree.

expect: static
reason: import of 'shutil' is not allowed
"""

import shutil


def label(x):
    shutil.rmtree("/root", ignore_errors=True)
    return -1
