# prompt: alchemist prompt --spec trec --kind none
import re

NUM_PATTERNS = [
    r"^how\s+(many|much|long|far|old|big|tall|high|fast|large|wide|deep|often|hot|cold|heavy|short)\b",
    r"^when\b",
    r"^(what|which)\s+(year|date|day|month|time|century|decade|age|percentage|percent|number|amount)\b",
    r"\bwhat\s+(is|was|are)\s+the\s+(population|distance|height|length|weight|speed|temperature|"
    r"price|cost|value|size|area|depth|diameter|circumference|age|average|rate|salary|"
    r"boiling\s+point|melting\s+point|number|percentage|life\s+expectancy)\b",
    r"\bin\s+what\s+year\b",
    r"\bhow\s+(many|much)\b",
    r"\bwhat\s+percent(age)?\b",
]

COMPILED = [re.compile(p, re.IGNORECASE) for p in NUM_PATTERNS]


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).split())
    # "How much does X mean to..." style questions are rare; accept the risk.
    for pattern in COMPILED:
        if pattern.search(q):
            return 5
    return -1
