"""Count rows in a global to vote differently by row position.

expect: static
reason: 'global' statements are not allowed
"""

SEEN = 0


def label(x):
    global SEEN
    SEEN += 1
    return SEEN % 2
