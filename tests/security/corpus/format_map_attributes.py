"""Read attributes inside str.format_map fields.

expect: static
reason: '.format_map' is only allowed on a string literal
"""


def label(x):
    shown = "{row.__class__.__init__}".format_map({"row": x})
    return 1 if shown else 0
