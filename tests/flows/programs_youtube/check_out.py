"""Spam: asks viewers to check something out."""
import re

PATTERN = re.compile(r"check\s*(it\s*)?out|check my", re.I)


def label(x):
    return 1 if PATTERN.search(x["text"] or "") else -1
