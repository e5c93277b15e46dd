# prompt: alchemist prompt --spec trec --kind none
import re

DESC, ENTY, HUM, ABBR, LOC, NUM = 0, 1, 2, 3, 4, 5

HEAD_NOUNS = {
    LOC: {
        "city", "cities", "country", "countries", "state", "states", "continent", "river", "rivers",
        "mountain", "mountains", "ocean", "sea", "lake", "island", "islands", "county", "province",
        "capital", "place", "town", "region", "desert", "planet", "street", "park", "border", "nation",
    },
    HUM: {
        "person", "man", "woman", "president", "king", "queen", "author", "writer", "actor",
        "actress", "singer", "player", "team", "company", "companies", "organization", "group",
        "band", "scientist", "inventor", "artist", "leader", "general", "emperor", "poet",
        "composer", "director", "explorer", "politician", "senator", "name",
    },
    NUM: {
        "year", "years", "date", "day", "month", "century", "age", "number", "percentage",
        "population", "distance", "temperature", "speed", "price", "cost", "time", "height",
        "weight", "length", "size", "amount",
    },
    ENTY: {
        "animal", "animals", "bird", "dog", "fish", "plant", "flower", "tree", "food", "drink",
        "color", "colour", "sport", "game", "book", "novel", "movie", "film", "song", "language",
        "instrument", "disease", "product", "car", "currency", "religion", "war", "event", "award",
        "prize", "word", "term", "breed", "fruit", "vegetable", "element", "material", "substance",
        "ship", "newspaper", "magazine", "show", "program", "drug", "symbol",
    },
}


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).lower().split())
    m = re.match(r"^(what|which)\s+(kind\s+of\s+|type\s+of\s+|sort\s+of\s+)?(\w+)(\s+(\w+))?", q)
    if not m:
        return -1
    first = m.group(3)
    second = m.group(5) or ""
    if first in ("is", "are", "was", "were", "does", "do", "did"):
        return -1
    for cls in (LOC, HUM, NUM, ENTY):
        if first in HEAD_NOUNS[cls]:
            if cls == HUM and first == "name":
                continue
            return cls
    for cls in (LOC, HUM, NUM, ENTY):
        if second in HEAD_NOUNS[cls] and cls != HUM:
            return cls
    return -1
