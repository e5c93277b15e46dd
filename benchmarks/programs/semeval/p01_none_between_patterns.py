# prompt: alchemist prompt --spec semeval --kind none
import re

CE, CW, CC, ED, EO, IA, MC, MT, PP = range(9)

# Patterns on the words between the two entities, checked in order.
PATTERNS = [
    (r"\b(caused|causes|cause|causing|triggered|triggers|led\s+to|leads\s+to|results?\s+in|resulted\s+in|"
     r"produced\s+by|generated\s+by|induced|due\s+to|because\s+of|brought\s+on\s+by|gives?\s+rise\s+to)\b", CE),
    (r"\b(about|on\s+the\s+subject\s+of|concerning|regarding|describes?|described|discusses|discussed|"
     r"explains?|focuses\s+on|deals\s+with|reports?\s+on|addresses|depicts?|criticizes|relates\s+to)\b", MT),
    (r"\b(made\s+by|manufactured\s+by|built\s+by|written\s+by|composed\s+by|designed\s+by|created\s+by|"
     r"produced|makes|made|manufactures|builds|writes|wrote|created|bakes|brews|crafted\s+by|developed\s+by)\b", PP),
    (r"\b(into|onto|to\s+the|toward|towards|inside\s+the)\b", ED),
    (r"\b(from|out\s+of|derived\s+from|extracted\s+from|made\s+from|originates?\s+from|comes?\s+from|"
     r"away\s+from|departed|emigrated|left)\b", EO),
    (r"\b(used\s+by|with\s+a|with\s+an|using|uses|used|wielded|operated\s+by|by\s+means\s+of)\b", IA),
    (r"\b(member\s+of|members\s+of|one\s+of|among|belongs?\s+to|joined)\b", MC),
    (r"\b(contains?|contained|containing|inside|in\s+a|in\s+the|held\s+in|stored\s+in|filled\s+with|full\s+of|"
     r"kept\s+in|packed\s+in|enclosed\s+in)\b", CC),
    (r"\b(part\s+of|of\s+the|of\s+a|has\s+a|have\s+a|with|consists?\s+of|comprises?|includes?|component)\b", CW),
]
COMPILED = [(re.compile(p, re.IGNORECASE), c) for p, c in PATTERNS]


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
    mid = " " + mid.strip() + " "
    if len(mid.split()) > 8:
        return -1
    for pattern, cls in COMPILED:
        if pattern.search(mid):
            return cls
    return -1
