# prompt: alchemist prompt --spec trec --kind keywords
# Stage-one reply (keywords written by the LLM), focused on ENTY answers:
#   ENTY: color, animal, breed, bird, dog, fish, plant, flower, tree, food, dish, drink,
#         fruit, language, sport, game, instrument, disease, currency, religion, book, novel,
#         movie, film, song, award, product, brand, car, invention, element, metal, gem,
#         event, war, word, term, name of the (ship/horse/dog), "what kind of", "what type of"
import re

ENTY_NOUNS = {
    "color", "colour", "colors", "animal", "animals", "breed", "bird", "birds", "dog", "dogs",
    "fish", "plant", "plants", "flower", "tree", "food", "dish", "drink", "fruit", "vegetable",
    "language", "sport", "game", "instrument", "disease", "currency", "religion", "book", "novel",
    "movie", "film", "song", "award", "product", "brand", "car", "invention", "element", "metal",
    "gem", "event", "war", "word", "term", "ship", "horse", "insect", "mammal", "drug", "medicine",
    "material", "fabric", "weapon", "vehicle", "toy", "beer", "wine", "cheese", "symbol",
}


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).lower().split())
    if re.search(r"\bstands?\s+for\b|\bhow\s+(many|much)\b", q):
        return -1
    if re.match(r"^(what|which)\s+(kind|type|sort|breed|brand)\s+of\b", q):
        return 1
    m = re.match(r"^(what|which|name\s+a|name\s+the)\s+(\w+)(\s+(\w+))?", q)
    if m:
        first = m.group(2)
        second = m.group(4) or ""
        if first in ENTY_NOUNS:
            return 1
        if first in ("is", "was", "are") and second == "the":
            m2 = re.match(r"^(what|which)\s+(is|was|are)\s+the\s+(\w+\s+)?(\w+)\s+(of|that|in|for|used|called)\b", q)
            if m2 and m2.group(4) in ENTY_NOUNS:
                return 1
    if re.search(r"\bwhat\s+(is|was)\s+the\s+name\s+of\s+(the|a|his|her)\s+(ship|horse|dog|cat|boat|plane|song|book|movie|film|album)\b", q):
        return 1
    return -1
