"""Return True, which is an int subclass but not a class index.

expect: runtime:invalid
reason: returned True
"""


def label(x):
    return "free" in x["text"] or True
