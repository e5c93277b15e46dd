# prompt: alchemist prompt --spec sms --kind rules
# Stage-one reply (rules written by the LLM):
#   - Spam messages are long (often near the 160-character limit), contain digits,
#     capital letters and exclamation marks, and read like an advertisement.
#   - Ham messages are short, lower-case, written in first person with slang and
#     abbreviations, and often ask or answer a question.
#   - A message with many digits (phone numbers, codes, prices) and a call to action
#     is spam; a short message without digits is ham; otherwise abstain.
import re


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text).strip()
    if not text:
        return -1
    n = len(text)
    digits = sum(1 for c in text if c.isdigit())
    letters = sum(1 for c in text if c.isalpha())
    uppers = sum(1 for c in text if c.isupper())
    upper_ratio = uppers / letters if letters else 0.0
    exclaims = text.count("!")
    cta = re.search(r"\b(call|txt|text|reply|send|claim|visit|click)\b", text, re.IGNORECASE) is not None
    first_person = re.search(r"\b(i|i'm|im|me|my|we)\b", text, re.IGNORECASE) is not None

    if n >= 100 and digits >= 8 and cta:
        return 1
    if digits >= 10 and (cta or exclaims >= 1):
        return 1
    if n >= 120 and upper_ratio > 0.3 and cta:
        return 1
    if n <= 60 and digits == 0 and upper_ratio < 0.3:
        return 0
    if first_person and digits <= 2 and not cta and exclaims <= 1:
        return 0
    return -1
