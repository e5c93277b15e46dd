"""Spam: links out."""
import re

PATTERN = re.compile(r"https?://|www\.|\.com\b", re.I)


def label(x):
    return 1 if PATTERN.search(x["text"] or "") else -1
