# prompt: alchemist prompt --spec sms --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data):
#   ham: "Can u pick up some milk on ur way home?", "Happy birthday! Hope u have a gr8 day",
#        "I'm at the library, done by 6", "Lunch tmr? Same place as last time",
#        "Just reached home, thanks for today"
#   spam: "You are subscribed to our weekly ringtone club, £3/wk. To stop txt STOP to 85023",
#         "Get the latest chart hits on your mobile! Send POLY to 89555",
#         "Dear customer, your account has a pending reward. Call 0800 123 4567",
#         "Want to meet new people? Join our chat service, text MEET to 69696",
#         "Claim your free entry into our £5000 weekly draw, reply YES now"
import re

SERVICE = re.compile(
    r"\b(subscribed|subscription|club|service|chart\s+hits|polyphonic|poly|ringtones?|"
    r"wallpapers?|logos?|games?\s+on\s+your\s+mobile|weekly\s+draw|entry|join|members?)\b",
    re.IGNORECASE,
)
CUSTOMER = re.compile(r"\b(dear\s+(customer|subscriber|user)|valued\s+customer|your\s+account)\b", re.IGNORECASE)
INSTRUCTION = re.compile(r"\b(send|txt|text|reply|call)\s+([A-Z]{2,}|yes|now|0\d)", re.IGNORECASE)
NUMBER = re.compile(r"\b\d{5}\b|\b0\d{3}\s?\d{3}\s?\d{3,4}\b")
PERSONAL = re.compile(
    r"\b(on\s+ur\s+way|on\s+your\s+way|happy\s+birthday|i'?m\s+at|reached\s+home|thanks\s+for|"
    r"same\s+place|pick\s+(me|u|you)\s+up|pick\s+up\s+some|see\s+(u|you))\b",
    re.IGNORECASE,
)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    promo = SERVICE.search(text) or CUSTOMER.search(text)
    if promo and (INSTRUCTION.search(text) or NUMBER.search(text)):
        return 1
    if INSTRUCTION.search(text) and NUMBER.search(text):
        return 1
    if PERSONAL.search(text) and not NUMBER.search(text):
        return 0
    return -1
