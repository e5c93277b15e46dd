"""Walk a traceback into the worker's frames.

expect: static
reason: '__traceback__' is a dunder attribute
"""


def label(x):
    try:
        1 / 0
    except ZeroDivisionError as error:
        frame = error.__traceback__.tb_frame.f_back
        return 1 if "rows" in frame.f_locals else 0
    return -1
