# prompt: alchemist prompt --spec chemprot --kind description
# Supplementary information (the spec's description): sentences are from PubMed abstracts
# and use dense biomedical terminology; either entity may be the chemical; relations are
# read from the verbs and nouns that link the two (e.g. "inhibits", "is a substrate of",
# "binding to").
import re

PART, REG, UP, DOWN, AGO, ANTA, MOD, COF, SUB, NOT = range(10)

# Linking phrases, looked up between the two mentions. Noun forms ("inhibitor of",
# "substrate for", "binding to") matter as much as the verbs in abstracts.
LINKS = [
    (r"\b(is|are|as)\s+(a|an)?\s*(potent|selective|competitive|partial|full)?\s*antagonists?\b", ANTA),
    (r"\bantagonis\w*\b", ANTA),
    (r"\b(is|are|as)\s+(a|an)?\s*(potent|selective|partial|full)?\s*agonists?\b", AGO),
    (r"\bagonis(t|ts|tic)\b", AGO),
    (r"\b(positive|negative)?\s*allosteric\s+modulat\w*|\bmodulat\w*\b", MOD),
    (r"\b(is|are|as)\s+(a|an)?\s*cofactors?\b|\bcofactors?\b|\brequires?\b", COF),
    (r"\b(is|are|as)\s+(a|an)?\s*(good|poor|specific)?\s*substrates?\s+(of|for)\b|\bsubstrates?\b", SUB),
    (r"\bmetaboli[sz](ed|es|e|ing)\b|\bmetabolism\s+of\b|\bcatalyz\w*|\bconvert\w*\s+to\b", SUB),
    (r"\binhibitors?\s+of\b|\binhibit(s|ed|ing|ion)?\b|\bblock(s|ed|ing|er|ade)?\b|\bsuppress\w*", DOWN),
    (r"\b(decreas|reduc|attenuat|down-?regulat|abolish|diminish)\w*", DOWN),
    (r"\bactivators?\s+of\b|\bactivat(es|ed|ing|ion)\b|\binduc(es|ed|ing|tion)\b|\bstimulat\w*", UP),
    (r"\b(increas|enhanc|up-?regulat|elevat|potentiat)\w*", UP),
    (r"\bbind(s|ing)?\s+(to)?\b|\bbound\s+to\b|\binteract\w*\s+with\b|\baffinity\s+(for|of)\b|\bligands?\b", REG),
    (r"\bregulat(es|ed|ing|ion|or)\b|\btarget\w*\b", REG),
    (r"\bresidues?\b|\bat\s+position\b|\bsubstitution\b|\bmutat\w*\b", PART),
]
COMPILED = [(re.compile(p, re.IGNORECASE), c) for p, c in LINKS]


def _between(text, e1, e2):
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
    mid = _between(str(text), str(e1), str(e2))
    if mid is None:
        return -1
    mid = " ".join(mid.split())
    if len(mid.split()) > 12:
        return -1
    # adjacent mentions such as "the CYP2D6 inhibitor quinidine": the link is a single noun
    for pattern, cls in COMPILED:
        if pattern.search(mid):
            return cls
    if mid.strip() in ("", "-", "/", "(", ")") or re.fullmatch(r"[\s,;()]*and[\s,;()]*", mid):
        # the two mentions are coordinated or adjacent with no linking word
        return -1
    return -1
