"""Account when the ticket is about signing in or profile details."""
import re

WORDS = re.compile(r"\b(password|log ?in|sign ?in|username|email|profile|account|info)\b", re.I)


def label(x):
    text = x["text"] or ""
    if re.search(r"password is fine", text, re.I):
        return -1
    return 3 if WORDS.search(text) else -1
