"""Ham: talks about the song, the video or the singer, without asking for anything."""
import re

TALK = re.compile(r"\b(song|love|best|beautiful|voice|music|views|billion)\b", re.I)
ASK = re.compile(r"subscri|check|channel|http|www|please", re.I)


def label(x):
    text = x["text"] or ""
    return 0 if TALK.search(text) and not ASK.search(text) else -1
