# prompt: alchemist prompt --spec sms --kind description
# Supplementary information (the spec's description): messages are mostly from the
# United Kingdom and Singapore, in informal English with heavy abbreviation ("u", "2",
# "txt"); currency symbols may appear garbled; most messages are ham.
import re

# A currency sign, possibly garbled by a bad encoding (e.g. "Â£", "å£", "&pound;"),
# followed by an amount.
CURRENCY = re.compile(r"(£|Â£|å£|&pound;|\bGBP\b|\$|€|\bS\$)\s?\d+|\b\d+\s?(pounds|quid)\b", re.IGNORECASE)
COMMERCIAL_VERB = re.compile(r"\b(txt|text|call|reply|claim|send|collect|win|won|ur\s+awarded)\b", re.IGNORECASE)
SHORT_CODE = re.compile(r"\b\d{5}\b|\b0[89]\d{8,9}\b")
SINGLISH = re.compile(r"\b(lor|lah|leh|meh|liao|hor|ah|sia|bah)\b", re.IGNORECASE)
CASUAL = re.compile(r"\b(u|ur|r|n|da|wat|wan|dun|cos|coz|gonna|wanna|tmr|tmrw|nite|2nite|2day|2moro)\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    has_currency = CURRENCY.search(text) is not None
    has_code = SHORT_CODE.search(text) is not None
    commercial = COMMERCIAL_VERB.search(text) is not None
    if (has_currency or has_code) and commercial:
        return 1
    if has_currency and has_code:
        return 1
    if has_currency or has_code:
        return -1
    if SINGLISH.search(text):
        return 0
    upper = sum(1 for c in text if c.isupper())
    letters = sum(1 for c in text if c.isalpha())
    if CASUAL.search(text) and letters and upper / letters < 0.3:
        return 0
    return -1
