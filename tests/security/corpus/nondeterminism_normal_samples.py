"""Vote at random with statistics.NormalDist().samples().

expect: runtime:deterministic
"""

import statistics


def label(x):
    return 1 if statistics.NormalDist().samples(1)[0] > 0 else 0
