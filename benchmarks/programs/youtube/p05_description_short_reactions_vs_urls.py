# prompt: alchemist prompt --spec youtube --kind description
# Supplementary information (the spec's description): comments come from five popular
# music videos (2014-2015); they are informal, often short, with emoji, slang,
# misspellings and URLs.
import re

URL = re.compile(r"(https?\s*:\s*/\s*/|www\s*\.|\.com\b|\.net\b|\.org\b|\bbit\.ly\b|goo\.gl)", re.IGNORECASE)
SELF_PROMO = re.compile(
    r"\b(subscribe|subscribers?|sub\s*4\s*sub|my\s+channel|check\s+(out\s+)?my|follow\s+me|"
    r"add\s+me|my\s+(new\s+)?(video|song|cover|music|page|blog|website|site))\b",
    re.IGNORECASE,
)
REACTION = re.compile(
    r"\b(love|luv|lol|lmao|haha\w*|omg|wow|cool|nice|great|awesome|amazing|best|epic|"
    r"beautiful|cute|hot|sexy|sucks?|stupid|boring|annoying|catchy|song|views?|billion|"
    r"million|dance|voice|beat|lyrics)\b",
    re.IGNORECASE,
)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text).strip()
    if not text:
        return -1
    if URL.search(text) or SELF_PROMO.search(text):
        return 1
    words = re.findall(r"[A-Za-z']+", text)
    if len(words) <= 8 and REACTION.search(text):
        return 0
    if len(words) <= 3:
        # very short reactions, emoji or slang with no promotional cue
        return 0
    return -1
