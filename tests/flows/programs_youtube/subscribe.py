"""Spam: asks for subscriptions or channel visits."""
import re

PATTERN = re.compile(r"subscri|my channel|channel\b", re.I)


def label(x):
    return 1 if PATTERN.search(x["text"] or "") else -1
