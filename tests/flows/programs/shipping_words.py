"""Shipping when the ticket is about a parcel or delivery."""
import re

WORDS = re.compile(r"\b(ship|shipping|shipped|deliver\w*|parcel|package|order|arrived|courier|tracking)\b", re.I)


def label(x):
    return 2 if WORDS.search(x["text"] or "") else -1
