# prompt: alchemist prompt --spec trec --kind none
import re

DESC, ENTY, HUM, ABBR, LOC, NUM = 0, 1, 2, 3, 4, 5


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).lower().split())
    if not q:
        return -1
    if re.search(r"\bstand(s)?\s+for\b|\babbreviat|\bacronym\b", q):
        return ABBR
    if re.match(r"^(who|whom|whose)\b", q):
        return HUM
    if re.match(r"^where\b", q):
        return LOC
    if re.match(r"^when\b", q):
        return NUM
    if re.match(r"^why\b", q):
        return DESC
    if re.match(r"^how\s+(many|much|long|far|old|big|tall|high|fast|large|wide|deep|often|hot|cold|heavy)\b", q):
        return NUM
    if re.match(r"^how\s+(do|does|did|can|could|is|are|was|were|to|should|would)\b", q):
        return DESC
    if re.match(r"^what\s+(is|are|was|were)\s+(a|an|the)?\s*\w+(\s+\w+)?\s*\?$", q):
        return DESC
    if re.match(r"^(what|which)\s+(year|date|day|month|century|percentage|number)\b", q):
        return NUM
    if re.match(r"^(what|which)\s+(city|country|state|continent|river|mountain|ocean|island|county|province)\b", q):
        return LOC
    return -1
