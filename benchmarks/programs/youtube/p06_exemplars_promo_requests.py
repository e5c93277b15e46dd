# prompt: alchemist prompt --spec youtube --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data):
#   HAM: "This song never gets old, still listening in 2015", "Her voice is so beautiful omg",
#        "2 billion views?! insane", "lol the horse dance is the best part",
#        "So annoying but I can't stop listening to it"
#   SPAM: "Hey guys please subscribe to my channel, I make covers! Would mean a lot :)",
#         "Check out my new music video http://...", "Follow me on Instagram @...",
#         "Win a free iPhone here: www.freegift...", "Trying to reach 1000 subscribers,
#         thumbs up so everyone sees this"
import re

SPAM_RULES = [
    re.compile(r"\bplease\b.*\bsubscribe\b|\bsubscribe\b.*\bplease\b", re.IGNORECASE),
    re.compile(r"\bsubscribe\s+to\s+my\b", re.IGNORECASE),
    re.compile(r"\bcheck\s+out\s+my\b", re.IGNORECASE),
    re.compile(r"\bfollow\s+me\s+on\b", re.IGNORECASE),
    re.compile(r"\b(win|won)\s+(a\s+)?free\b", re.IGNORECASE),
    re.compile(r"https?://|www\.", re.IGNORECASE),
    re.compile(r"\breach\s+\d+\s*k?\s+subscribers\b", re.IGNORECASE),
    re.compile(r"\bthumbs?\s+up\s+so\b", re.IGNORECASE),
    re.compile(r"\bi\s+make\s+(covers|music|videos|beats)\b", re.IGNORECASE),
    re.compile(r"\bwould\s+mean\s+a\s+lot\b", re.IGNORECASE),
]

HAM_RULES = [
    re.compile(r"\bnever\s+gets\s+old\b", re.IGNORECASE),
    re.compile(r"\bstill\s+(listening|watching)\b", re.IGNORECASE),
    re.compile(r"\b(her|his|their)\s+voice\b", re.IGNORECASE),
    re.compile(r"\b\d+(\.\d+)?\s*(billion|million|b|m)\s+views\b", re.IGNORECASE),
    re.compile(r"\bbest\s+part\b", re.IGNORECASE),
    re.compile(r"\bcan'?t\s+stop\s+listening\b", re.IGNORECASE),
    re.compile(r"\bthis\s+song\b", re.IGNORECASE),
]


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    spam_hits = sum(1 for rule in SPAM_RULES if rule.search(text))
    ham_hits = sum(1 for rule in HAM_RULES if rule.search(text))
    if spam_hits > 0 and spam_hits >= ham_hits:
        return 1
    if ham_hits > 0 and spam_hits == 0:
        return 0
    return -1
