# prompt: alchemist prompt --spec semeval --kind rules
# Stage-one reply (rules written by the LLM), for the two directional-motion classes:
#   - Entity-Destination: something moves towards or into a place or container; cues are
#     "into", "onto", "to", "toward(s)", "in" after a motion verb (put, pour, send, move,
#     release, inject, migrate, export, deliver, arrive at).
#   - Entity-Origin: something comes from, is made from or leaves a source; cues are
#     "from", "out of", "derived from", "extracted from", "made from", "originated in",
#     "left", "emerged from", "distilled from", "is a native of".
#   - "from" after a causal verb ("resulted from", "suffered from") is Cause-Effect, not
#     Origin; "made by" is Product-Producer. Abstain in those cases.
import re

DEST = re.compile(
    r"\b(into|onto|toward|towards)\b|\b(put|puts|placed|poured|sent|send|moved|released|"
    r"injected|migrated|exported|delivered|shipped|transferred|added|dropped|thrown|brought|"
    r"went|came|travel+ed|flew|dispatched)\s+(\w+\s+){0,2}(to|in|at)\b|\barrived\s+(at|in)\b"
)
ORIGIN = re.compile(
    r"\b(out\s+of|derived\s+from|extracted\s+from|made\s+from|originat\w*\s+(from|in)|"
    r"emerged\s+from|distilled\s+from|obtained\s+from|comes?\s+from|came\s+from|"
    r"departed\s+from|escaped\s+from|fled\s+from|imported\s+from|native\s+of|left)\b|\bfrom\b"
)
EXCLUDE = re.compile(r"\b(result\w*|suffer\w*|die[sd]?|caus\w*|stem\w*|aris\w*)\s+from\b|\bmade\s+by\b")


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
    mid = " ".join(mid.split())
    if len(mid.split()) > 6 or EXCLUDE.search(mid):
        return -1
    if DEST.search(mid):
        return 3
    if ORIGIN.search(mid):
        return 4
    return -1
