"""Never returns: timed out and quarantined."""


def label(x):
    n = 0
    while True:
        n += 1
