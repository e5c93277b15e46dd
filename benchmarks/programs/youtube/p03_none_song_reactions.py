# prompt: alchemist prompt --spec youtube --kind none
import re

HAM_PATTERNS = [
    r"\b(love|luv|like|hate)\s+(this|that|the)\s+(song|video|vid|track|beat|music)\b",
    r"\b(best|greatest|worst|awesome|amazing|catchy)\s+(song|video|music|beat)\b",
    r"\bthis\s+song\s+(is|was|never|still|makes|gets)\b",
    r"\b(billion|million)\s+views\b",
    r"\bviews?\b.*\b(19|20)\d\d\b",
    r"\bwho('?s| is)\s+(still\s+)?(listening|watching|here)\b",
    r"\b(listening|watching)\s+(to\s+)?(this\s+)?in\s+(19|20)\d\d\b",
    r"\b(her|his)\s+voice\b",
    r"\bso\s+(good|catchy|beautiful|annoying|cute|funny)\b",
    r"\b(lol|lmao|haha+)\b",
    r"\b(dance|dancing|lyrics|chorus)\b",
]

SPAMMY = re.compile(
    r"(https?://|www\.|\.com\b|subscribe|my\s+channel|check\s+(out\s+)?my|follow\s+me)",
    re.IGNORECASE,
)

COMPILED = [re.compile(p, re.IGNORECASE) for p in HAM_PATTERNS]


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    if SPAMMY.search(text):
        return -1
    for pattern in COMPILED:
        if pattern.search(text):
            return 0
    return -1
