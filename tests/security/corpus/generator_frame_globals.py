"""Reach the caller's globals through a generator's frame.

expect: static
reason: 'gi_frame' reaches frame, generator or code internals
"""


def gen():
    yield 1


def label(x):
    g = gen()
    caller = g.gi_frame.f_back
    return 1 if caller and caller.f_globals else 0
