# prompt: alchemist prompt --spec youtube --kind none
import re

URL = re.compile(r"(https?://|www\.|\b[a-z0-9-]+\.(com|net|org|ly|info|co|tk|me)\b)", re.IGNORECASE)
PROMO = re.compile(
    r"\b(free|giveaway|win|winner|earn|money|cash|gift\s*card|itunes\s+card|paypal|"
    r"make\s+\$?\d+|per\s+(day|hour|week)|click|sign\s*up|promo\s*code|discount|"
    r"follow\s+me|follow\s+my|add\s+me|like\s+my\s+page|instagram|twitter|facebook)\b",
    re.IGNORECASE,
)
VIDEO_LINK = re.compile(r"youtube\.com/watch|youtu\.be/", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    has_url = URL.search(text) is not None
    has_promo = PROMO.search(text) is not None
    if has_url and has_promo:
        return 1
    if has_url and not VIDEO_LINK.search(text):
        return 1
    if has_promo and re.search(r"\b(my|me|our)\b", text, re.IGNORECASE):
        return 1
    return -1
