# prompt: alchemist prompt --spec sms --kind keywords
# Stage-one reply (keywords written by the LLM):
#   spam: free, win, winner, won, prize, claim, cash, urgent, congratulations, award,
#         guaranteed, txt, text to, reply, call now, mobile, ringtone, tone, chat, dating,
#         voucher, offer, subscribe, unsubscribe, stop, per msg, 150p, T&C, landline,
#         delivery, collect, selected, entry
#   ham: ok, lol, haha, home, tonight, later, love, miss you, sorry, dinner, sleep,
#        work, class, lor, lah, i'm, gonna, wanna, see you, call me
import re

SPAM_WORDS = [
    "free", "win", "winner", "won", "prize", "claim", "cash", "urgent", "congratulations",
    "award", "awarded", "guaranteed", "txt", "reply", "mobile", "ringtone", "tone", "chat",
    "dating", "voucher", "offer", "subscribe", "unsubscribe", "stop", "150p", "landline",
    "delivery", "collect", "selected", "entry",
]
SPAM_PHRASES = ["text to", "call now", "per msg", "t&c", "t&cs"]

HAM_WORDS = [
    "ok", "lol", "haha", "home", "tonight", "later", "love", "sorry", "dinner", "sleep",
    "work", "class", "lor", "lah", "i'm", "im", "gonna", "wanna",
]
HAM_PHRASES = ["miss you", "miss u", "see you", "see u", "call me"]


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text).lower()
    tokens = set(re.findall(r"[a-z0-9&']+", text))
    spam = sum(1 for w in SPAM_WORDS if w in tokens) + sum(1 for p in SPAM_PHRASES if p in text)
    ham = sum(1 for w in HAM_WORDS if w in tokens) + sum(1 for p in HAM_PHRASES if p in text)
    if spam >= 2 and spam > ham:
        return 1
    if ham >= 1 and spam == 0:
        return 0
    if ham >= 2 and ham > spam:
        return 0
    return -1
