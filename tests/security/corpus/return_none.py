"""Fall off the end of label.

expect: runtime:invalid
reason: returned None
"""


def label(x):
    if "zzz" in x["text"]:
        return 1
