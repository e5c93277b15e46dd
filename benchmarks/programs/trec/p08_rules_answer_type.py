# prompt: alchemist prompt --spec trec --kind rules
# Stage-one reply (rules written by the LLM):
#   1. "What does X stand for", "abbreviation/acronym of" -> ABBR, checked first.
#   2. "Who"/"Whom"/"Whose" -> HUM, except "Who is X" can still be HUM (a description of
#      a person counts as HUM).
#   3. "Where" -> LOC; "When" -> NUM; "Why" -> DESC.
#   4. "How" + adjective/quantifier (many, much, long, old, far, tall) -> NUM;
#      "How" + auxiliary/verb (how does, how do you, how is) -> DESC (manner).
#   5. "What/Which" + noun: judge by the noun (person/company -> HUM, city/country -> LOC,
#      year/number -> NUM, other things -> ENTY).
#   6. "What is X ?" with a short X asks for a definition -> DESC.
#   7. "Name a ..." -> ENTY unless it names a person or place.
#   8. If the question type is unclear, abstain.
import re

DESC, ENTY, HUM, ABBR, LOC, NUM = 0, 1, 2, 3, 4, 5

PERSON_NOUNS = r"(person|people|man|woman|men|women|president|king|queen|author|writer|actor|actress|singer|company|team|organization|group|band|leader|inventor|scientist|artist|player)"
PLACE_NOUNS = r"(city|country|state|place|continent|river|mountain|ocean|sea|lake|island|capital|town|county|province|region|nation)"
NUMBER_NOUNS = r"(year|date|day|month|century|number|percentage|age|population|amount|time|temperature|distance|speed)"
HOW_NUM = r"(many|much|long|old|far|tall|high|big|fast|large|wide|deep|often|heavy|hot|cold|short|small)"


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).lower().split())
    if not q:
        return -1
    # rule 1
    if re.search(r"\bstands?\s+for\b|\babbreviation\b|\bacronym\b", q):
        return ABBR
    # rules 2-3
    if re.match(r"^(who|whom|whose)\b", q):
        return HUM
    if re.match(r"^where\b", q):
        return LOC
    if re.match(r"^when\b", q):
        return NUM
    if re.match(r"^why\b", q):
        return DESC
    # rule 4
    if re.match(r"^how\s+" + HOW_NUM + r"\b", q):
        return NUM
    if re.match(r"^how\s+(do|does|did|is|are|was|were|can|could|should|would|to)\b", q):
        return DESC
    # rule 5
    m = re.match(r"^(what|which)\s+(\w+\s+)?(\w+)", q)
    if m:
        for noun in (m.group(2) or "").strip(), m.group(3):
            if not noun:
                continue
            if re.fullmatch(PERSON_NOUNS, noun):
                return HUM
            if re.fullmatch(PLACE_NOUNS, noun):
                return LOC
            if re.fullmatch(NUMBER_NOUNS + "s?", noun):
                return NUM
    # rule 6
    if re.match(r"^what\s+(is|are|was)\s+(a\s+|an\s+)?[\w-]+(\s+[\w-]+)?\s*\??$", q):
        return DESC
    # rule 7
    if re.match(r"^name\s+(a|an|the|one|two|three)?\s*\w+", q):
        if re.search(r"\b" + PERSON_NOUNS + r"\b", q):
            return HUM
        if re.search(r"\b" + PLACE_NOUNS + r"\b", q):
            return LOC
        return ENTY
    return -1
