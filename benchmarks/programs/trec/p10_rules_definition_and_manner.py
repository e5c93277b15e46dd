# prompt: alchemist prompt --spec trec --kind rules
# Stage-one reply (rules written by the LLM), focused on DESC:
#   - Definitions ("What is X ?", "What are X ?", "What does X mean ?", "Define X") are DESC
#     when X is a common noun or concept, not a proper name of a person or place.
#   - Reasons ("Why ...", "What causes ...", "What is the reason ...") are DESC.
#   - Manner ("How do you ...", "How does ... work", "How is ... made") is DESC.
#   - "What is the difference between A and B" and "What is the origin of X" are DESC.
#   - Anything asking for a count, date, name, place or abbreviation is not DESC.
import re

DESC_PATTERNS = [
    r"^why\b",
    r"^how\s+(do|does|did|can|could|is|are|was|were|should|would|to)\b",
    r"^what\s+causes\b",
    r"^what\s+(is|was)\s+the\s+(reason|cause|purpose|meaning|origin|definition|difference|significance|function)\b",
    r"^what\s+does\s+(the\s+)?[\w'-]+(\s+[\w'-]+)?\s+mean\b",
    r"^define\b",
    r"^what\s+(is|are)\s+(a|an)\s+[\w'-]+(\s+[\w'-]+)?\s*\??$",
    r"^what\s+(is|are)\s+[a-z][\w'-]*\s*\??$",
    r"^what\s+happens\b",
    r"^describe\b",
]

NOT_DESC = re.compile(r"\bstands?\s+for\b|\bhow\s+(many|much|long|old|far|tall|big)\b|\bwhat\s+year\b")
COMPILED = [re.compile(p) for p in DESC_PATTERNS]


def label(x):
    text = x["text"]
    if not text:
        return -1
    raw = " ".join(str(text).split())
    q = raw.lower()
    if not q or NOT_DESC.search(q):
        return -1
    # "What is Xerox ?" with a capitalised single name usually asks about a proper entity
    m = re.match(r"^what\s+(is|are)\s+([A-Za-z][\w'-]*)\s*\??$", raw, re.IGNORECASE)
    if m and m.group(2)[0].isupper():
        return -1
    for pattern in COMPILED:
        if pattern.search(q):
            return 0
    return -1
