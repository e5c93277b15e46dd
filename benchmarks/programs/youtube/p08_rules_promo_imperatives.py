# prompt: alchemist prompt --spec youtube --kind rules
# Stage-one reply (rules written by the LLM):
#   1. Any URL (other than a link to a YouTube video) is a strong spam signal.
#   2. Imperatives aimed at the viewer (subscribe, check out, visit, follow, add me, click)
#      mean spam.
#   3. First-person promotional possessives ("my channel", "my video", "my music") mean spam.
#   4. Money, prizes, free offers and giveaways mean spam.
#   5. Comments that mention the song, the artist, the video's content or the view count
#      are ham, as are short reactions (a few words, emoji, "lol", "nice"), even rude ones.
#   6. Long comments begging for likes or attention ("thumbs up so everyone sees") are spam.
#   7. When none of these apply, abstain.
import re

URL = re.compile(r"https?://\S+|www\.\S+|\b\S+\.(com|net|org|ly|info)\b", re.IGNORECASE)
YT_VIDEO = re.compile(r"youtube\.com/watch\?v=|youtu\.be/", re.IGNORECASE)
IMPERATIVE = re.compile(
    r"\b(subscribe|check\s+(it\s+)?out|visit|follow|add\s+me|click|go\s+to|watch\s+my|listen\s+to\s+my)\b",
    re.IGNORECASE,
)
POSSESSIVE = re.compile(
    r"\bmy\s+(youtube\s+)?(channel|video|videos|music|song|songs|cover|covers|page|band|account|website|blog)\b",
    re.IGNORECASE,
)
MONEY = re.compile(r"\b(money|cash|\$\s?\d+|prize|free|giveaway|win|earn|paid|income)\b", re.IGNORECASE)
BEGGING = re.compile(r"\b(thumbs?\s+up|like\s+this\s+(comment|so)|so\s+(everyone|people)\s+(can\s+)?see)\b", re.IGNORECASE)
CONTENT = re.compile(
    r"\b(song|songs|singer|voice|beat|lyrics|dance|dancing|music\s+video|views|billion|"
    r"million|chorus|melody|rap|rapper|clip)\b",
    re.IGNORECASE,
)
REACTION = re.compile(r"\b(lol|lmao|haha\w*|omg|wow|nice|cool|love|hate|awesome|amazing|sucks|cute)\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    url = URL.search(text)
    if url and not YT_VIDEO.search(text):
        return 1
    if POSSESSIVE.search(text):
        return 1
    if IMPERATIVE.search(text) and re.search(r"\b(my|me|our|us)\b", text, re.IGNORECASE):
        return 1
    if MONEY.search(text) and (IMPERATIVE.search(text) or url):
        return 1
    n_words = len(text.split())
    if BEGGING.search(text) and n_words > 10:
        return 1
    if CONTENT.search(text) and not IMPERATIVE.search(text):
        return 0
    if n_words <= 5 and REACTION.search(text):
        return 0
    return -1
