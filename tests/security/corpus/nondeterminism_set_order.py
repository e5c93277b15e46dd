"""Vote by the iteration order of a set of strings, which follows string hashes.

expect: runtime:deterministic
"""


def label(x):
    words = list(set(x["text"].lower().split()))
    return 1 if words[0] < "m" else 0
