# prompt: alchemist prompt --spec youtube --kind none
import re

SUBSCRIBE_PATTERNS = [
    r"\bsub(scribe|scribed|scribing)?\s+(to\s+)?(me|my|our)\b",
    r"\bplease\s+sub(scribe)?\b",
    r"\bpls\s+sub(scribe)?\b",
    r"\bsub\s*4\s*sub\b",
    r"\bsub\s+for\s+sub\b",
    r"\bsubscribe\b.*\bchannel\b",
    r"\bcheck\s+(out\s+)?(my|our)\s+(channel|videos?|music|page|covers?)\b",
    r"\b(visit|view|watch)\s+(my|our)\s+(channel|videos?|page)\b",
    r"\bmy\s+(youtube\s+)?channel\b",
    r"\bhelp\s+me\s+(reach|get)\b.*\bsub",
    r"\b\d+\s*(k\s+)?subscribers\b",
]

COMPILED = [re.compile(p, re.IGNORECASE) for p in SUBSCRIBE_PATTERNS]


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    for pattern in COMPILED:
        if pattern.search(text):
            return 1
    return -1
