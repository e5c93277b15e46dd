# prompt: alchemist prompt --spec semeval --kind description
# Supplementary information (the spec's description): sentences come from general
# English web text; the relation is expressed by the words linking the two entities
# (prepositions, verbs, possessives), not by the entities alone.
import re

CE, CW, CC, ED, EO, IA, MC, MT, PP = range(9)

# Linking expressions, most specific first. Each is looked up in the text between
# the two entity mentions only.
LINKS = [
    ("caused by", CE), ("causes", CE), ("caused", CE), ("cause", CE), ("triggered", CE),
    ("leads to", CE), ("led to", CE), ("resulted in", CE), ("results in", CE), ("result of", CE),
    ("resulting from", CE), ("due to", CE), ("generated", CE), ("induced", CE),
    ("part of", CW), ("component of", CW), ("consists of", CW), ("comprises", CW), ("'s", CW),
    ("inside", CC), ("contains", CC), ("contained", CC), ("containing", CC), ("filled with", CC),
    ("full of", CC), ("stored in", CC), ("kept in", CC), ("packed in", CC), ("in a", CC),
    ("into", ED), ("onto", ED), ("sent to", ED), ("moved to", ED), ("delivered to", ED),
    ("released into", ED), ("migrated to", ED), ("imported to", ED), ("added to", ED),
    ("derived from", EO), ("made from", EO), ("extracted from", EO), ("comes from", EO),
    ("came from", EO), ("originates from", EO), ("out of", EO), ("from", EO), ("away from", EO),
    ("used by", IA), ("using", IA), ("uses", IA), ("with a", IA), ("wielded", IA),
    ("operated by", IA), ("used to", IA),
    ("member of", MC), ("members of", MC), ("one of", MC), ("among", MC), ("belongs to", MC),
    ("about", MT), ("on the topic of", MT), ("describes", MT), ("discusses", MT),
    ("explains", MT), ("concerning", MT), ("regarding", MT), ("deals with", MT), ("reports", MT),
    ("made by", PP), ("built by", PP), ("written by", PP), ("produced by", PP),
    ("manufactured by", PP), ("designed by", PP), ("created by", PP), ("wrote", PP),
    ("built", PP), ("makes", PP), ("produces", PP), ("manufactures", PP),
    ("of the", CW), ("of", CW), ("in the", CC), ("with", IA), ("by", PP), ("to", ED),
]


def _between(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return low[i + len(e1):j]
    return low[j + len(e2):i]


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    mid = _between(str(text), str(e1), str(e2))
    if mid is None:
        return -1
    words = mid.split()
    if not words or len(words) > 6:
        return -1
    padded = " " + " ".join(words) + " "
    for phrase, cls in LINKS:
        if phrase == "'s":
            if mid.startswith("'s") or mid.startswith(" 's"):
                return cls
            continue
        if re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", padded):
            # single function words are weak: only trust them when the link is short
            if phrase in ("of", "of the", "in the", "with", "by", "to", "from") and len(words) > 3:
                continue
            return cls
    return -1
