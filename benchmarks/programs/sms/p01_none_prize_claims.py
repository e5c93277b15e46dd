# prompt: alchemist prompt --spec sms --kind none
import re

PRIZE = re.compile(
    r"\b(you\s+have\s+(won|been\s+(selected|chosen|awarded))|you('| a)?re\s+a\s+winner|winner|"
    r"congratulations|congrats\s+you|prize|award(ed)?|claim|guaranteed|lottery|jackpot|"
    r"cash\s+reward|bonus\s+reward|selected\s+to\s+receive)\b",
    re.IGNORECASE,
)
MONEY = re.compile(r"(£|\$|€|\bgbp\b|\busd\b)\s?\d+|\b\d+\s?(pounds|dollars)\b|\b\d{3,}\s?cash\b", re.IGNORECASE)
ACTION = re.compile(r"\b(call|txt|text|reply|send|dial|claim)\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    prize = PRIZE.search(text) is not None
    money = MONEY.search(text) is not None
    action = ACTION.search(text) is not None
    if prize and (money or action):
        return 1
    if money and action and re.search(r"\b(win|won|free)\b", text, re.IGNORECASE):
        return 1
    return -1
