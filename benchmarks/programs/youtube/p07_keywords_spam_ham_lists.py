# prompt: alchemist prompt --spec youtube --kind keywords
# Stage-one reply (keywords written by the LLM):
#   SPAM: subscribe, sub4sub, my channel, check out, check my, visit, http, www, .com,
#         follow me, instagram, twitter, facebook, free, win, giveaway, gift card,
#         earn money, click, link, like this comment, thumbs up
#   HAM: love this song, best song, her voice, beat, lyrics, views, billion,
#        watching in 2015, catchy, masterpiece, legend, lol, haha, dance, chorus
import re

SPAM_KEYWORDS = [
    "subscribe", "sub4sub", "sub 4 sub", "my channel", "check out", "check my", "visit",
    "http", "www", ".com", "follow me", "instagram", "twitter", "facebook", "free",
    "giveaway", "gift card", "earn money", "click", "link", "like this comment", "thumbs up",
]
SPAM_WORDS = ["win"]

HAM_KEYWORDS = [
    "love this song", "best song", "her voice", "his voice", "beat", "lyrics", "views",
    "billion", "watching in 20", "listening in 20", "catchy", "masterpiece", "legend",
    "dance", "chorus",
]
HAM_WORDS = ["lol", "haha", "song"]


def _count(text, phrases, words):
    hits = sum(1 for p in phrases if p in text)
    for w in words:
        if re.search(r"\b" + re.escape(w) + r"\b", text):
            hits += 1
    return hits


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text).lower()
    spam = _count(text, SPAM_KEYWORDS, SPAM_WORDS)
    ham = _count(text, HAM_KEYWORDS, HAM_WORDS)
    if spam > ham:
        return 1
    if ham > spam:
        return 0
    return -1
