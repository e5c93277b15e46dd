# prompt: alchemist prompt --spec youtube --kind keywords
# Stage-one reply (keywords written by the LLM):
#   SPAM: follow me on, instagram, twitter, facebook, tumblr, snapchat, kik, add me,
#         free, earn, make money, work from home, giveaway, gift card, iphone, win,
#         promo, click here, sign up, my website
#   HAM: (reactions to the song) love, amazing, beautiful, queen, king, legend, views
import re

SOCIAL = re.compile(
    r"\b(follow\s+me|follow\s+us|instagram|insta|twitter|facebook|fb\s+page|tumblr|snapchat|kik|add\s+me)\b",
    re.IGNORECASE,
)
MONEY = re.compile(
    r"\b(make\s+money|earn(ing)?\s+(money|cash|\$)|work\s+from\s+home|giveaway|gift\s*cards?|"
    r"free\s+(iphone|ipad|xbox|ps4|money|gift|followers|views|subscribers)|click\s+here|sign\s+up|"
    r"promo|my\s+website|cash\s+prize)\b",
    re.IGNORECASE,
)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    if SOCIAL.search(text) or MONEY.search(text):
        return 1
    return -1
