# prompt: alchemist prompt --spec sms --kind none
import re

# Premium-rate and service numbers (UK 09xx / 087x style), short codes after a
# "text/send/reply" verb, and per-message or per-minute prices.
PREMIUM_NUMBER = re.compile(r"\b0(9|8[47])\d{7,9}\b")
SHORT_CODE = re.compile(r"\b(txt|text|send|reply|sms)\b[^.!?]{0,30}\b(to|on)\s+\d{4,6}\b", re.IGNORECASE)
KEYWORD_TO_CODE = re.compile(r"\b[A-Z]{2,10}\s+(to|2)\s+\d{4,6}\b")
PRICE_PER = re.compile(r"\b\d+(\.\d+)?\s?p\s?(/|per\s+)?\s?(msg|min|minute|txt|text|wk|week)\b|\b\d+p\b", re.IGNORECASE)
STOP = re.compile(r"\b(stop|unsubscribe|opt\s?out)\b.*\b\d{4,6}\b|\bt\s?&\s?cs?\b|\bt\s?and\s?c\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    if PREMIUM_NUMBER.search(text):
        return 1
    if SHORT_CODE.search(text) or KEYWORD_TO_CODE.search(text):
        return 1
    if PRICE_PER.search(text) or STOP.search(text):
        return 1
    return -1
