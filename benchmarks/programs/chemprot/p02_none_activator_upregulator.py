# prompt: alchemist prompt --spec chemprot --kind none
import re

UP = re.compile(
    r"\b(activat\w*|induc\w*|increas\w*|stimulat\w*|enhanc\w*|up-?regulat\w*|elevat\w*|"
    r"potentiat\w*|augment\w*|promot\w*|boost\w*|restor\w*|raise[sd]?|raising|trigger\w*|"
    r"upregulat\w*|overexpress\w*|facilitat\w*)\b",
    re.IGNORECASE,
)
BLOCKERS = re.compile(r"\b(inhibit\w*|block\w*|suppress\w*|decreas\w*|reduc\w*|antagon\w*|agonist\w*)\b", re.IGNORECASE)
NEGATION = re.compile(r"\b(not|no|without|failed\s+to|unaffected|neither|nor)\b", re.IGNORECASE)


def _window(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return text[i + len(e1):j]
    return text[j + len(e2):i]


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    mid = _window(str(text), str(e1), str(e2))
    if mid is None or len(mid.split()) > 12:
        return -1
    if NEGATION.search(mid) or BLOCKERS.search(mid):
        return -1
    if UP.search(mid):
        return 2
    return -1
