# prompt: alchemist prompt --spec semeval --kind none
import re

CAUSE_VERBS = re.compile(
    r"\b(cause[sd]?|causing|trigger(s|ed|ing)?|le(a)?d\s+to|leads\s+to|result(s|ed)?\s+in|"
    r"result(s|ed)?\s+from|induc(e|es|ed|ing)|provok(e|es|ed)|generat(e|es|ed)|spark(s|ed)?|"
    r"produc(e|es|ed|ing)|creat(e|es|ed)|brought\s+about|gives?\s+rise\s+to|gave\s+rise\s+to|"
    r"due\s+to|because\s+of|arising\s+from|stems?\s+from|was\s+from|were\s+from|from)\b",
    re.IGNORECASE,
)
EFFECT_NOUNS = re.compile(
    r"\b(pain|damage|death|deaths|fire|explosion|injury|injuries|disease|infection|illness|"
    r"symptoms?|fever|cancer|anxiety|stress|fear|panic|heat|noise|smoke|flood|floods|erosion|"
    r"accident|crash|outbreak|inflammation|headache|vibration|radiation|pollution|sound|"
    r"light|energy|emission|emissions|corrosion|fatigue|happiness|anger|confusion|delay)\b",
    re.IGNORECASE,
)
NON_CAUSAL_FROM = re.compile(r"\b(came|come|comes|arrived|departed|moved|ran|flew|walked|emigrated|made)\s+from\b", re.IGNORECASE)


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
    if mid is None or len(mid.split()) > 7:
        return -1
    if NON_CAUSAL_FROM.search(mid):
        return -1
    m = CAUSE_VERBS.search(mid)
    if not m:
        return -1
    if m.group(0).lower() in ("from", "produce", "produces", "produced", "producing", "create", "creates", "created"):
        # weak cues: require an effect-like noun among the entities
        if not (EFFECT_NOUNS.search(str(e1)) or EFFECT_NOUNS.search(str(e2))):
            return -1
    return 0
