"""Keep a generator alive by throwing into it forever.

expect: runtime:timeout
"""


def spin():
    while True:
        try:
            yield 0
        except ValueError:
            pass


def label(x):
    g = spin()
    next(g)
    while True:
        g.throw(ValueError("again"))
