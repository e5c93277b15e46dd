# prompt: alchemist prompt --spec semeval --kind keywords
# Stage-one reply (keywords written by the LLM), for Message-Topic and Product-Producer:
#   Message-Topic: about, on, concerning, regarding, describes, discusses, explains,
#                  addresses, covers, outlines, criticises, focuses on, deals with, reports;
#                  message nouns: book, article, report, paper, speech, lecture, letter,
#                  documentary, film, essay, poem, survey, thesis, story, review
#   Product-Producer: made by, built by, written by, produced by, manufactured by, designed
#                     by, created by, developed by, invented by, composed by, painted by;
#                     producer nouns: company, manufacturer, factory, author, artist, farmer,
#                     brewery, bakery, studio, developer
import re

MT_LINKS = re.compile(
    r"\b(about|on|concerning|regarding|describ(es|ed|ing)|discuss(es|ed|ing)|explain(s|ed|ing)|"
    r"address(es|ed)|covers?|outlines?|criticis(es|ed)|criticiz(es|ed)|focus(es|ed)\s+on|"
    r"deals?\s+with|reports?\s+on|on\s+the\s+subject\s+of)\b"
)
MESSAGE_NOUNS = {"book", "article", "report", "paper", "speech", "lecture", "letter",
                 "documentary", "film", "essay", "poem", "survey", "thesis", "story", "review",
                 "chapter", "study", "manual", "guide", "novel", "column", "editorial", "talk",
                 "presentation", "brochure", "leaflet", "memo", "blog", "post", "song"}
PP_LINKS = re.compile(
    r"\b(made|built|written|produced|manufactured|designed|created|developed|invented|"
    r"composed|painted|baked|brewed|grown|published|directed)\s+by\b"
)
PP_ACTIVE = re.compile(r"\b(makes|made|builds|built|writes|wrote|produces|produced|manufactures|manufactured|designs|designed|invented|composed|painted|brews|bakes|grows|publishes|published)\b")
PRODUCER_NOUNS = {"company", "manufacturer", "factory", "author", "artist", "farmer", "brewery",
                  "bakery", "studio", "developer", "inventor", "writer", "composer", "painter",
                  "firm", "corporation", "plant", "mill", "publisher", "architect", "designer"}


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
    if mid is None or len(mid.split()) > 7:
        return -1
    heads = {_head(str(e1)), _head(str(e2))}
    if PP_LINKS.search(mid):
        return 8
    if heads & MESSAGE_NOUNS and MT_LINKS.search(mid):
        return 7
    if heads & PRODUCER_NOUNS and PP_ACTIVE.search(mid):
        return 8
    return -1
