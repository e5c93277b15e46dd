# prompt: alchemist prompt --spec medabs --kind none
import re

CANCER = re.compile(
    r"\b(cancers?|tumou?rs?|neoplas\w*|carcinom\w*|adenocarcinom\w*|sarcom\w*|lymphom\w*|"
    r"leukemi\w*|leukaemi\w*|melanom\w*|myelom\w*|gliom\w*|glioblastom\w*|metasta\w*|"
    r"malignan\w*|oncolog\w*|chemotherap\w*|radiotherap\w*|adenom\w*|blastom\w*|mesotheliom\w*|"
    r"neuroblastom\w*|carcinoid|tamoxifen|cisplatin|doxorubicin|fluorouracil|5-fu)\b",
    re.IGNORECASE,
)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    hits = CANCER.findall(text)
    if len(hits) >= 2:
        return 0
    return -1
