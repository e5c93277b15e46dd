"""Technical when something crashes or shows an error."""
import re

WORDS = re.compile(r"\b(crash\w*|error|bug|slow|freez\w*|app|website|broken|not working)\b", re.I)


def label(x):
    return 1 if WORDS.search(x["text"] or "") else -1
