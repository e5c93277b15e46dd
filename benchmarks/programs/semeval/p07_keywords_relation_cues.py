# prompt: alchemist prompt --spec semeval --kind keywords
# Stage-one reply (keywords written by the LLM):
#   Cause-Effect: caused, causes, cause, led to, resulted in, triggered, due to, because of,
#                 induced, generated, produced (a reaction)
#   Component-Whole: part of, component, consists of, comprises, contains (parts), has a,
#                    of the, built into
#   Content-Container: in, inside, contained in, filled with, full of, stored in, held in,
#                      box, bag, jar, bottle
#   Entity-Destination: into, onto, to, towards, sent to, moved to, delivered, arrived at
#   Entity-Origin: from, derived from, extracted from, came from, originates, out of, source
#   Instrument-Agency: with, using, used by, by means of, operated, tool, instrument
#   Member-Collection: member of, one of, among, belongs to, group, team, flock, herd
#   Message-Topic: about, discusses, describes, explains, on, regarding, concerning,
#                  report, book, article, lecture, speech
#   Product-Producer: made by, built by, written by, produced by, manufactured, company,
#                     factory, author
import re

CE, CW, CC, ED, EO, IA, MC, MT, PP = range(9)

CUES = {
    CE: ["caused", "causes", "cause", "led to", "leads to", "resulted in", "results in", "triggered",
         "due to", "because of", "induced", "generated"],
    CW: ["part of", "component", "consists of", "comprises", "has a", "built into"],
    CC: ["inside", "contained in", "filled with", "full of", "stored in", "held in", "box", "bag",
         "jar", "bottle"],
    ED: ["into", "onto", "towards", "sent to", "moved to", "delivered", "arrived at"],
    EO: ["derived from", "extracted from", "came from", "comes from", "originates", "out of",
         "source"],
    IA: ["using", "used by", "by means of", "operated", "tool", "instrument"],
    MC: ["member of", "members of", "one of", "among", "belongs to", "group", "team", "flock",
         "herd"],
    MT: ["about", "discusses", "describes", "explains", "regarding", "concerning", "report",
         "book", "article", "lecture", "speech"],
    PP: ["made by", "built by", "written by", "produced by", "manufactured", "company",
         "factory", "author"],
}
# entity words are allowed to vote too, but with a lower weight than linking words
ENTITY_WEIGHT = 0.5


def _between(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return low[i + len(e1):j]
    return low[j + len(e2):i]


def _has(cue, s):
    return re.search(r"(?<![a-z])" + re.escape(cue) + r"(?![a-z])", s) is not None


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    mid = _between(str(text), str(e1), str(e2))
    if mid is None:
        return -1
    ents = (str(e1) + " " + str(e2)).lower()
    scores = [0.0] * 9
    for cls, cues in CUES.items():
        for cue in cues:
            if _has(cue, mid):
                scores[cls] += 1.0
            if _has(cue, ents):
                scores[cls] += ENTITY_WEIGHT
    best = max(scores)
    if best < 1.0:
        return -1
    if scores.count(best) > 1:
        return -1
    return scores.index(best)
