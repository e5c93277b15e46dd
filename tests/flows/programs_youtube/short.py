"""Ham: very short comments are reactions, not promotions."""


def label(x):
    words = (x["text"] or "").split()
    return 0 if 0 < len(words) <= 5 else -1
