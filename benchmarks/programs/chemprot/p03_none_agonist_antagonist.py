# prompt: alchemist prompt --spec chemprot --kind none
import re

# "antagonist" contains "agonist", so antagonists are checked first and agonists
# only as a whole word.
ANTAGONIST = re.compile(r"\b(antagonis\w*|inverse\s+agonist\w*|receptor\s+blocker\w*)\b", re.IGNORECASE)
AGONIST = re.compile(r"\b(agonis(t|ts|m|tic)|partial\s+agonist|full\s+agonist|superagonist)\b", re.IGNORECASE)


def _window(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return text[max(0, i - 30):j + len(e2) + 30], text[i + len(e1):j]
    return text[max(0, j - 30):i + len(e1) + 30], text[j + len(e2):i]


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    found = _window(str(text), str(e1), str(e2))
    if found is None:
        return -1
    span, mid = found
    if len(mid.split()) > 10:
        return -1
    if re.search(r"\binverse\s+agonist", span, re.IGNORECASE):
        return 5
    if ANTAGONIST.search(span):
        return 5
    if AGONIST.search(span):
        return 4
    return -1
