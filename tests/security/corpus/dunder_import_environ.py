"""Import os with __import__ and read a secret.

expect: static
reason: '__import__' is a dunder name
"""


def label(x):
    return 1 if __import__("os").environ.get("OPENAI_API_KEY") else 0
