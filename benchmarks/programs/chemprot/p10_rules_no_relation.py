# prompt: alchemist prompt --spec chemprot --kind rules
# Stage-one reply (rules written by the LLM), about the NOT class:
#   - Two mentions that are only listed together ("A, B and C"), separated by a clause
#     boundary, or far apart in a long sentence usually have no stated relation: NOT.
#   - Measurement and study-design language ("levels of", "were measured", "patients
#     treated with", "in the presence of", "compared with") without a relation verb
#     between the mentions suggests NOT.
#   - Negations such as "had no effect on", "did not alter" state that there is no
#     relation: NOT.
#   - If any relation verb or noun (inhibit, activate, bind, agonist, substrate ...) links
#     the two mentions directly, do not say NOT; abstain and leave it to other rules.
import re

RELATION = re.compile(
    r"\b(inhibit\w*|activat\w*|induc\w*|increas\w*|decreas\w*|reduc\w*|stimulat\w*|suppress\w*|"
    r"block\w*|bind\w*|bound|agonis\w*|antagonis\w*|modulat\w*|substrate\w*|metaboli\w*|"
    r"catalyz\w*|cofactor\w*|regulat\w*|enhanc\w*|interact\w*|target\w*|convert\w*|affinity|"
    r"residue\w*|transport\w*)\b",
    re.IGNORECASE,
)
NEGATED = re.compile(
    r"\b(had\s+no\s+effect\s+on|has\s+no\s+effect\s+on|did\s+not\s+(alter|affect|change|modify|influence)|"
    r"does\s+not\s+(alter|affect|change|modify|influence)|was\s+not\s+(altered|affected|changed)|"
    r"independent\s+of|unaffected\s+by|not\s+(inhibit|activate|bind)\w*)\b",
    re.IGNORECASE,
)
STUDY = re.compile(
    r"\b(levels?\s+of|were\s+measured|was\s+measured|patients|treated\s+with|in\s+the\s+presence\s+of|"
    r"compared\s+(with|to)|in\s+combination\s+with|plasma|serum|concentrations?\s+of|respectively)\b",
    re.IGNORECASE,
)


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
    m = " ".join(mid.split())
    if NEGATED.search(m):
        return 9
    if RELATION.search(m):
        return -1
    words = m.split()
    if re.fullmatch(r"[\s,]*(and|or|,|/|as\s+well\s+as)?[\s,]*(\w+[\s,]+(and|or)\s*)?", m) and words:
        return 9
    if ";" in m or len(words) > 15:
        return 9
    if STUDY.search(m):
        return 9
    return -1
