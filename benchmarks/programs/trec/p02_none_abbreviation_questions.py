# prompt: alchemist prompt --spec trec --kind none
import re

ABBR_PATTERNS = [
    r"\bstand(s)?\s+for\b",
    r"\babbreviation\b",
    r"\babbreviated\b",
    r"\bacronym\b",
    r"\bfull\s+form\b",
    r"\bshort\s+for\b",
    r"\binitials\b",
    r"^what\s+(does|do|did)\s+[A-Z][A-Z.]{1,8}\s+(mean|stand)\b",
    r"^what\s+is\s+(the\s+)?[A-Z]{2,}\s*\?$",
]

COMPILED = [re.compile(p) if p.startswith("^what") else re.compile(p, re.IGNORECASE) for p in ABBR_PATTERNS]


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).split())
    q_cap = q[:1].lower() + q[1:]
    for pattern in COMPILED:
        if pattern.search(q) or pattern.search(q_cap):
            return 3
    return -1
