"""An endless loop that swallows every Exception, hoping to swallow the timeout too.

expect: runtime:timeout
"""


def label(x):
    while True:
        try:
            while True:
                pass
        except Exception:
            continue
