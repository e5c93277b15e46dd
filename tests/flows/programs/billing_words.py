"""Billing when the ticket talks about money."""
import re

WORDS = re.compile(r"\b(charge[sd]?|invoice|refund|bill|billed|payment|fee|price|statement)\b", re.I)


def label(x):
    text = x["text"] or ""
    return 0 if WORDS.search(text) else -1
