# prompt: alchemist prompt --spec sms --kind none
import re

SPAM_FEATURES = [
    (r"\bfree\b", 2),
    (r"\b(win|won|winner|prize|award|claim)\b", 2),
    (r"\b(urgent|important)\b", 1),
    (r"(£|\$|€)\s?\d+", 2),
    (r"\b\d{5}\b", 2),
    (r"\b0\d{9,10}\b", 2),
    (r"\b(txt|text|reply|send)\b", 1),
    (r"\b(call|ring)\s+(now|today|0\d)", 2),
    (r"\b(ringtone|tone|chat|dating|mobile|camera\s+phone|nokia|voucher|offer|subscription)\b", 1),
    (r"\b(stop|opt\s?out|unsubscribe)\b", 1),
    (r"\b\d+p\b|\bper\s+(msg|min|week|wk)\b", 2),
    (r"https?://|www\.", 2),
    (r"!{2,}", 1),
]

HAM_FEATURES = [
    (r"\b(i|i'm|im|me|my)\b", 1),
    (r"\b(u|ur|you|your)\b", 0),
    (r"\b(lol|haha|hehe|:\)|;\)|:-\))", 1),
    (r"\b(home|tonight|tmr|tomorrow|later|now)\b", 1),
    (r"\b(love|miss|sorry|thanks|ok|okay|yeah|sure)\b", 1),
    (r"\b(mum|mom|dad|babe|dear|bro|sis)\b", 1),
    (r"\?", 1),
]


def _score(text, features):
    return sum(w for p, w in features if re.search(p, text, re.IGNORECASE))


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    spam = _score(text, SPAM_FEATURES)
    ham = _score(text, HAM_FEATURES)
    if spam >= 4 and spam > ham:
        return 1
    if spam == 0 and ham >= 2:
        return 0
    return -1
