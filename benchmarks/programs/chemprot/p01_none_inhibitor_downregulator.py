# prompt: alchemist prompt --spec chemprot --kind none
import re

DOWN = re.compile(
    r"\b(inhibit\w*|suppress\w*|block(s|ed|ing|er|ers|ade)?|decreas\w*|reduc\w*|attenuat\w*|"
    r"down-?regulat\w*|diminish\w*|abolish\w*|abrogat\w*|impair\w*|lower(s|ed|ing)?|"
    r"inactivat\w*|prevent\w*|repress\w*|antagoniz\w*|knock\w*\s+down|depress\w*|"
    r"deplet\w*|interfer\w*\s+with)\b",
    re.IGNORECASE,
)
NEGATION = re.compile(r"\b(not|no|neither|nor|without|failed\s+to|did\s+not|does\s+not|unaffected)\b", re.IGNORECASE)


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
    if NEGATION.search(mid):
        return -1
    if DOWN.search(mid):
        return 3
    # "X inhibitor" or "inhibitor of X" written right next to an entity
    if re.search(r"^\s*(-|\s)?(inhibitors?|blockers?)\b", mid, re.IGNORECASE):
        return 3
    return -1
