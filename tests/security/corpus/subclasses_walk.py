"""Find os._wrap_close among object's subclasses and call system().

expect: static
reason: '__subclasses__' is a dunder attribute
"""


def label(x):
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            cls.__init__.__globals__["system"]("id")
    return 1
