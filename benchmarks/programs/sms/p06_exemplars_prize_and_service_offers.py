# prompt: alchemist prompt --spec sms --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data):
#   ham: "Hey r u still coming 2 the party tonight?", "Ok lor, see u at the mrt station",
#        "Sorry I'll call later, in a meeting", "Mum says dinner's ready, come home",
#        "Haha that was so funny, miss u loads"
#   spam: "URGENT! You have won a £1000 cash prize. Call 09061701461 to claim. T&Cs apply",
#         "FREE ringtone! Text TONE to 87131 now. 150p/msg", "Congratulations! You've been
#         selected for a free holiday. Reply WIN to 80086", "Your mobile is due for a free
#         camera phone upgrade. Call 08000930705", "Hot singles in your area! Txt CHAT to
#         69888, £1.50/min"
import re

SPAM_RULES = [
    re.compile(r"\burgent\b", re.IGNORECASE),
    re.compile(r"\byou('ve| have)\s+(won|been\s+selected)\b", re.IGNORECASE),
    re.compile(r"£\s?\d", re.IGNORECASE),
    re.compile(r"\bcall\s+0[89]\d{7,}", re.IGNORECASE),
    re.compile(r"\bt\s?&\s?cs?\b", re.IGNORECASE),
    re.compile(r"\bfree\s+(ringtone|tone|holiday|camera|phone|entry|msg|text|gift|voucher)\b", re.IGNORECASE),
    re.compile(r"\b(text|txt|reply)\s+[A-Z]{2,}\s+(to\s+)?\d{4,6}\b"),
    re.compile(r"\b\d+p\s?/\s?(msg|min)\b|/min\b", re.IGNORECASE),
    re.compile(r"\b(upgrade|singles|chat)\b.*\b\d{5,}\b", re.IGNORECASE),
    re.compile(r"\bcongratulations\b", re.IGNORECASE),
]

HAM_RULES = [
    re.compile(r"\b(r\s+u|are\s+u|are\s+you)\b.*\?", re.IGNORECASE),
    re.compile(r"\bok\s+lor\b|\bsee\s+(u|you)\b", re.IGNORECASE),
    re.compile(r"\b(i'?ll|i\s+will)\s+call\s+(u\s+|you\s+)?later\b", re.IGNORECASE),
    re.compile(r"\b(mum|mom|dad)\b", re.IGNORECASE),
    re.compile(r"\b(haha|lol|miss\s+(u|you))\b", re.IGNORECASE),
    re.compile(r"\bsorry\b", re.IGNORECASE),
]


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    spam = sum(1 for r in SPAM_RULES if r.search(text))
    ham = sum(1 for r in HAM_RULES if r.search(text))
    if spam >= 1 and spam > ham:
        return 1
    if ham >= 1 and spam == 0:
        return 0
    return -1
