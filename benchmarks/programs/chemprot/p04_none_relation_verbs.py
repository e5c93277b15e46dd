# prompt: alchemist prompt --spec chemprot --kind none
import re

PART, REG, UP, DOWN, AGO, ANTA, MOD, COF, SUB, NOT = range(10)

RULES = [
    (r"\binverse\s+agonist", ANTA),
    (r"\bantagonis\w*", ANTA),
    (r"\bagonis(t|ts|m|tic)\b", AGO),
    (r"\b(allosteric|modulat\w*)\b", MOD),
    (r"\b(cofactor|co-factor|coenzyme)\b", COF),
    (r"\b(substrates?|metaboli[sz]\w*|hydroly[sz]\w*|catalyz\w*|catalys\w*|convert\w*|conversion|"
     r"oxidi[sz]\w*|phosphorylat\w*|glucuronid\w*|transport\w*|uptake|product\s+of|synthesi[sz]\w*|"
     r"formation\s+of|biosynthesis)\b", SUB),
    (r"\b(inhibit\w*|suppress\w*|block\w*|decreas\w*|reduc\w*|attenuat\w*|down-?regulat\w*|abolish\w*|inactivat\w*)\b", DOWN),
    (r"\b(activat\w*|induc\w*|increas\w*|stimulat\w*|enhanc\w*|up-?regulat\w*|elevat\w*|potentiat\w*)\b", UP),
    (r"\b(bind\w*|bound|interact\w*|regulat\w*|affect\w*|target\w*|ligand|affinity|mediat\w*)\b", REG),
    (r"\b(residues?|amino\s+acids?|sequence|position|domain|motif)\b", PART),
]
COMPILED = [(re.compile(p, re.IGNORECASE), c) for p, c in RULES]


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
    if mid is None:
        return -1
    if len(mid.split()) > 15:
        return -1
    for pattern, cls in COMPILED:
        if pattern.search(mid):
            return cls
    return -1
