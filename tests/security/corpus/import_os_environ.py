"""Exfiltrate an API key from the environment through os.environ.

expect: static
reason: import of 'os' is not allowed
"""

import os


def label(x):
    key = os.environ.get("OPENAI_API_KEY", "")
    return 1 if key.startswith("sk-") else 0
