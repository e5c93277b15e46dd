# prompt: alchemist prompt --spec youtube --kind none
import re

SPAM_CUES = {
    r"subscribe": 2,
    r"\bsub\b": 1,
    r"my\s+channel": 2,
    r"check\s+(it\s+)?out": 1,
    r"check\s+my": 2,
    r"https?://|www\.": 2,
    r"\.com\b": 1,
    r"follow\s+(me|us)": 2,
    r"\bfree\b": 1,
    r"\bwin\b|\bwinner\b|giveaway": 1,
    r"\bplease\b|\bpls\b|\bplz\b": 1,
    r"\bvisit\b": 1,
    r"\bmoney\b|\$\d+": 1,
    r"\bthumbs?\s+up\b|\blike\s+this\s+comment\b": 1,
    r"\bmy\s+(new\s+)?(video|song|cover|music|page|band)\b": 2,
}

HAM_CUES = {
    r"\bsong\b": 1,
    r"\bvideo\b": 0,
    r"\blove\b": 1,
    r"\bviews\b": 1,
    r"\bbeautiful\b|\bamazing\b|\bawesome\b|\bbest\b": 1,
    r"\blol\b|\bhaha\b|\blmao\b": 1,
    r"\bvoice\b|\bbeat\b|\blyrics\b|\bdance\b": 1,
    r"\bshe\b|\bhe\b|\bher\b|\bhis\b": 1,
}


def _score(text, cues):
    total = 0
    for pattern, weight in cues.items():
        if re.search(pattern, text, re.IGNORECASE):
            total += weight
    return total


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    spam = _score(text, SPAM_CUES)
    ham = _score(text, HAM_CUES)
    if spam >= 3 and spam > ham:
        return 1
    if ham >= 2 and spam == 0:
        return 0
    return -1
