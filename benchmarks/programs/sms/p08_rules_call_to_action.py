# prompt: alchemist prompt --spec sms --kind rules
# Stage-one reply (rules written by the LLM):
#   1. A premium-rate or long freephone number, or a 5-digit short code with an instruction
#      to text/call/reply, is spam.
#   2. A price per message/minute, "T&Cs", "18+", or an opt-out line ("txt STOP") is spam.
#   3. Unsolicited prize, award or lottery claims, free gifts and upgrades are spam.
#   4. Words in ALL CAPS plus exclamation marks point to spam.
#   5. Messages that refer to shared plans, people or places the sender and receiver both
#      know, with casual abbreviations and no number or price, are ham.
#   6. Very short replies ("ok", "k", "on my way") are ham.
#   7. Otherwise abstain.
import re

NUMBER = re.compile(r"\b0[789]\d{8,9}\b|\b\d{5}\b")
CTA = re.compile(r"\b(txt|text|call|reply|send|ring|dial)\b", re.IGNORECASE)
PRICE = re.compile(r"\b\d+(\.\d+)?p\b|(per|/)\s?(msg|min|minute|wk|week)\b|\bt\s?&\s?cs?\b|\b18\+|\bstop\b", re.IGNORECASE)
PRIZE = re.compile(r"\b(prize|award(ed)?|lottery|won|winner|free|upgrade|bonus|voucher|guaranteed)\b", re.IGNORECASE)
CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
SHARED = re.compile(
    r"\b(we|us|our|let'?s|meet|coming|come|going|see\s+(u|you)|tonight|tomorrow|tmr|later|"
    r"home|class|work|office|dinner|lunch|movie|party)\b",
    re.IGNORECASE,
)
SHORT_REPLY = re.compile(r"^\s*(ok+|k|kk|okay|yes|yeah|no|sure|on\s+my\s+way|omw|thanks?|thx|ya|yup)\W*$", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    has_number = NUMBER.search(text) is not None
    has_cta = CTA.search(text) is not None
    if has_number and has_cta:
        return 1
    if PRICE.search(text) and (has_number or has_cta):
        return 1
    if PRIZE.search(text) and (has_number or has_cta or "!" in text):
        return 1
    caps = len(CAPS_WORD.findall(text))
    if caps >= 3 and text.count("!") >= 1 and (has_number or PRIZE.search(text)):
        return 1
    if SHORT_REPLY.match(text):
        return 0
    if SHARED.search(text) and not has_number and not PRICE.search(text) and not PRIZE.search(text):
        return 0
    return -1
