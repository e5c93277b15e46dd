# prompt: alchemist prompt --spec semeval --kind none
import re

COLLECTIONS = {
    "group", "team", "club", "crowd", "audience", "army", "fleet", "flock", "herd", "pack",
    "swarm", "colony", "family", "committee", "council", "board", "band", "orchestra", "choir",
    "crew", "staff", "class", "party", "union", "association", "society", "community", "tribe",
    "troop", "squad", "gang", "jury", "panel", "faculty", "congregation", "forest", "library",
    "collection", "set", "series", "list", "cluster", "bunch", "school", "population", "network",
    "coalition", "alliance", "federation", "league", "delegation", "cast", "species", "genus",
}
MEMBER_WORDS = re.compile(r"\b(member|members|one\s+of|among|belong(s|ed)?\s+to|joined|of\s+the|of\s+a|of|in\s+the|from\s+the)\b")
PART_WORDS = re.compile(
    r"\b(part\s+of|component\s+of|of\s+the|of\s+a|of\s+an|of|on\s+the|has\s+(a|an|the)|have\s+(a|an|the)|"
    r"with\s+(a|an|the)?|consists?\s+of|comprises?|includes?|attached\s+to|built\s+into|'s)\b"
)
PARTS = {
    "engine", "wheel", "wheels", "door", "doors", "handle", "roof", "wall", "walls", "window",
    "windows", "screen", "keyboard", "button", "blade", "lid", "leg", "legs", "arm", "arms",
    "head", "tail", "wing", "wings", "leaf", "leaves", "branch", "root", "roots", "trunk",
    "page", "pages", "chapter", "cover", "floor", "room", "kitchen", "battery", "lens", "motor",
    "seat", "seats", "string", "strings", "key", "keys", "frame", "base", "top", "bottom",
    "edge", "core", "shell", "skin", "finger", "fingers", "tooth", "teeth", "hull", "deck",
    "mast", "sail", "tire", "tires", "pedal", "chip", "processor", "circuit", "sensor",
    "section", "paragraph", "element", "component", "part", "piece",
}


def _between(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return low[i + len(e1):j]
    return low[j + len(e2):i]


def _head(entity):
    words = re.findall(r"[a-z]+", entity.lower())
    return words[-1] if words else ""


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    mid = _between(str(text), str(e1), str(e2))
    if mid is None or len(mid.split()) > 6:
        return -1
    h1, h2 = _head(str(e1)), _head(str(e2))
    if (h1 in COLLECTIONS or h2 in COLLECTIONS) and MEMBER_WORDS.search(mid):
        return 6
    if re.search(r"\b(member|members)\s+of\b", mid):
        return 6
    if re.search(r"\b(part|component|parts|components)\s+of\b", mid):
        return 1
    if (h1 in PARTS or h2 in PARTS) and PART_WORDS.search(mid):
        return 1
    return -1
