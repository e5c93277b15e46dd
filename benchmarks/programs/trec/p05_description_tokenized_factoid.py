# prompt: alchemist prompt --spec trec --kind description
# Supplementary information (the spec's description): questions are short factoid
# questions from the TREC question-answering track, tokenized with spaces before
# punctuation (e.g. "Who wrote Hamlet ?").
import re

DESC, ENTY, HUM, ABBR, LOC, NUM = 0, 1, 2, 3, 4, 5

NUM_AFTER_HOW = {"many", "much", "long", "far", "old", "big", "tall", "high", "fast", "large",
                 "wide", "deep", "often", "hot", "cold", "heavy", "small", "late", "early"}


def _tokens(text):
    # tokens are already space separated; normalise case and drop punctuation tokens
    return [t for t in text.lower().split() if re.search(r"[a-z0-9]", t)]


def label(x):
    text = x["text"]
    if not text:
        return -1
    toks = _tokens(str(text))
    if not toks:
        return -1
    joined = " ".join(toks)
    if "stand for" in joined or "abbreviation" in joined or "acronym" in joined:
        return ABBR
    w0 = toks[0]
    w1 = toks[1] if len(toks) > 1 else ""
    if w0 in ("who", "whom", "whose"):
        return HUM
    if w0 == "where":
        return LOC
    if w0 == "when":
        return NUM
    if w0 == "why":
        return DESC
    if w0 == "how":
        if w1 in NUM_AFTER_HOW:
            return NUM
        return DESC
    if w0 in ("name", "list"):
        if w1 in ("a", "an", "the") and len(toks) > 2:
            w1 = toks[2]
        if w1 in ("city", "country", "state", "place", "river", "mountain"):
            return LOC
        if w1 in ("person", "man", "woman", "author", "president", "company", "team"):
            return HUM
        return ENTY
    if w0 in ("what", "which"):
        if w1 in ("is", "are", "was", "were") and len(toks) <= 4:
            # "What is a caldera ?" asks for a definition
            return DESC
        if w1 in ("does", "do") and toks[-1] in ("mean", "do"):
            return DESC
    return -1
