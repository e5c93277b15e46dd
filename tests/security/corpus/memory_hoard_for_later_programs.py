"""Keep nearly all memory in a global after returning, to starve the next program.

expect: runtime:invalid
reason: returned None
"""

HOARD = []
while True:
    try:
        HOARD.append("x" * (1 << 20))
    except MemoryError:
        break
del HOARD[-16:]


def label(x):
    return None
