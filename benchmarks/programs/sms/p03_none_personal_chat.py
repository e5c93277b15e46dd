# prompt: alchemist prompt --spec sms --kind none
import re

PERSONAL = re.compile(
    r"\b(i'?m|i'?ll|i\s+am|i\s+was|i\s+will|i\s+think|i\s+dunno|my\s+(mum|mom|dad|sis|bro|phone)|"
    r"love\s+(you|u)|miss\s+(you|u)|see\s+(you|u|ya)|call\s+me\s+later|on\s+my\s+way|"
    r"going\s+home|at\s+home|tonight|tomorrow|later|dinner|lunch|sleep|lol|haha+|hehe|"
    r"ok|okay|k|yeah|yup|sorry|thanks|thanx|babe|dear|hun|lor|lah|leh)\b",
    re.IGNORECASE,
)
SPAM_HINT = re.compile(
    r"(£|\$|€|\bfree\b|\bwin\b|\bwon\b|\bprize\b|\bclaim\b|\burgent\b|\bcall\s+0\d|\b\d{5,}\b|"
    r"\btxt\b|\boffer\b|\bsubscri|\bringtone|\bhttp|www\.)",
    re.IGNORECASE,
)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    if SPAM_HINT.search(text):
        return -1
    if PERSONAL.search(text):
        return 0
    # very short messages with no commercial cue are almost always personal
    if len(text.split()) <= 4:
        return 0
    return -1
