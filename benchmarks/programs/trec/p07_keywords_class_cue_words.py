# prompt: alchemist prompt --spec trec --kind keywords
# Stage-one reply (keywords written by the LLM):
#   DESC: why, how does, how do, how can, what is a, define, definition, meaning, mean,
#         explain, describe, origin of, difference between, reason
#   ENTY: what color, what animal, what breed, what language, what sport, what game,
#         what food, what kind of, what type of, name a, which instrument, what disease
#   HUM: who, whom, whose, what company, which team, what organization, who invented,
#        what group, nickname of
#   ABBR: stand for, abbreviation, acronym, short for, full form, initials
#   LOC: where, what country, what city, what state, capital of, which continent,
#        located, what river, what mountain
#   NUM: how many, how much, how long, how far, how old, when, what year, what date,
#        population of, distance, temperature, percentage, cost, price

DESC, ENTY, HUM, ABBR, LOC, NUM = 0, 1, 2, 3, 4, 5

KEYWORDS = {
    ABBR: ["stand for", "stands for", "abbreviation", "acronym", "short for", "full form", "initials"],
    NUM: ["how many", "how much", "how long", "how far", "how old", "what year", "what date",
          "population of", "distance", "temperature", "percentage", "cost", "price"],
    LOC: ["what country", "what city", "what state", "capital of", "which continent", "located",
          "what river", "what mountain", "which country", "which city"],
    HUM: ["what company", "which team", "what organization", "who invented", "what group",
          "nickname of"],
    ENTY: ["what color", "what colour", "what animal", "what breed", "what language", "what sport",
           "what game", "what food", "what kind of", "what type of", "name a", "which instrument",
           "what disease"],
    DESC: ["how does", "how do", "how can", "what is a ", "what is an ", "define", "definition",
           "meaning", "explain", "describe", "origin of", "difference between", "reason"],
}
FIRST_WORD = {"who": HUM, "whom": HUM, "whose": HUM, "where": LOC, "when": NUM, "why": DESC}
PRIORITY = [ABBR, NUM, LOC, HUM, ENTY, DESC]


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " " + " ".join(str(text).lower().split()) + " "
    if not q.strip():
        return -1
    scores = dict.fromkeys(PRIORITY, 0)
    for cls, words in KEYWORDS.items():
        for w in words:
            if w in q:
                scores[cls] += 1
    first = q.split()[0]
    if first in FIRST_WORD:
        scores[FIRST_WORD[first]] += 1
    best = max(scores.values())
    if best == 0:
        return -1
    winners = [c for c in PRIORITY if scores[c] == best]
    return winners[0]
