# prompt: alchemist prompt --spec youtube --kind rules
# Stage-one reply (rules written by the LLM):
#   - Ham talks about what is in the video: the song, the singer, the dance, the lyrics,
#     the view count, memories ("who is still watching in 2015").
#   - Ham is usually short and has no link and no request aimed at other viewers.
#   - Insults and complaints about the song or the artist are still ham.
#   - Spam addresses the reader with a request or contains a link; abstain otherwise.
import re

ABOUT_VIDEO = re.compile(
    r"\b(song|singer|sing|sings|voice|dance|dancing|dancer|lyrics|chorus|beat|video|clip|"
    r"views|viewers|billion|million|artist|rap|verse|album|music)\b",
    re.IGNORECASE,
)
MEMORY = re.compile(r"\b(still|who('?s| is))\s+(here|watching|listening)\b|\b(19|20)\d\d\b", re.IGNORECASE)
INSULT = re.compile(r"\b(sucks|worst|stupid|ugly|trash|garbage|annoying|hate|dislike)\b", re.IGNORECASE)
REQUEST = re.compile(
    r"\b(subscribe|check|visit|follow|click|add\s+me|go\s+to|please|pls|plz|help\s+me|support\s+me)\b",
    re.IGNORECASE,
)
LINK = re.compile(r"https?://|www\.|\.com\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    if LINK.search(text) or REQUEST.search(text):
        return -1
    if len(text) > 200:
        return -1
    if ABOUT_VIDEO.search(text) or MEMORY.search(text) or INSULT.search(text):
        return 0
    return -1
