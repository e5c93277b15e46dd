# prompt: alchemist prompt --spec semeval --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data):
#   Cause-Effect: "The [fire] was caused by a faulty [wire].", "[Smoking] leads to [cancer]."
#   Component-Whole: "The [engine] of the [car] overheated.", "The [handle] of the [door] broke."
#   Content-Container: "The [letters] were in a wooden [box].", "A [bottle] full of [wine]."
#   Entity-Destination: "He poured the [milk] into a [glass].", "The [refugees] fled to [Canada]."
#   Entity-Origin: "The [oil] is extracted from [olives].", "The [letter] came from [Paris]."
#   Instrument-Agency: "The [chef] cut the bread with a [knife].", "A [hammer] used by the [carpenter]."
#   Member-Collection: "A [wolf] from the [pack] howled.", "She is a [member] of the [committee]."
#   Message-Topic: "The [report] discusses [climate change].", "A [lecture] about [history]."
#   Product-Producer: "The [cake] was baked by my [grandmother].", "The [factory] produces [cars]."
#   (five examples per class were written; two per class are summarised here)
import re

CE, CW, CC, ED, EO, IA, MC, MT, PP = range(9)

TEMPLATES = [
    (r"^\s*(was|were|is|are)?\s*caused\s+by\b", CE),
    (r"^\s*(leads?|led)\s+to\b", CE),
    (r"^\s*(causes?|caused|triggers?|triggered)\b", CE),
    (r"^\s*of\s+(the|a|an|his|her|my|our|their)\s*$", CW),
    (r"^\s*(was|were|is|are)\s+in\s+(a|an|the)\s+(\w+\s+)?$", CC),
    (r"^\s*full\s+of\s*$|^\s*filled\s+with\s*$", CC),
    (r"^\s*(into|onto)\s+(a|an|the)?\s*$", ED),
    (r"^\s*(fled|moved|went|migrated|sent|flew|travell?ed)\s+to\s*$", ED),
    (r"^\s*(is|was|are|were)\s+(extracted|derived|made|produced|distilled)\s+from\s*$", EO),
    (r"^\s*(came|comes|arrived)\s+from\s*$", EO),
    (r"\bwith\s+(a|an|the|his|her)\s*$", IA),
    (r"^\s*used\s+by\s+(a|an|the)?\s*$", IA),
    (r"^\s*from\s+the\s*$", MC),
    (r"^\s*(is|was)?\s*(a|an)?\s*members?\s+of\s+(the|a)?\s*$", MC),
    (r"^\s*(discusses|discussed|describes|described|explains|about|on)\b", MT),
    (r"^\s*(was|were|is|are)\s+(baked|made|built|written|produced|painted|designed|created)\s+by\b", PP),
    (r"^\s*(produces|produced|makes|made|builds|built|manufactures)\s*$", PP),
]
COMPILED = [(re.compile(p), c) for p, c in TEMPLATES]


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
    for pattern, cls in COMPILED:
        if pattern.search(mid):
            return cls
    # "He cut the bread with a knife": instrument after the agent's verb phrase
    if re.search(r"\bwith\s+(a|an|the|his|her)\s*$", mid):
        return IA
    return -1
