# prompt: alchemist prompt --spec semeval --kind rules
# Stage-one reply (rules written by the LLM):
#   1. Look only at the words between the two entities; if there are more than ~6, abstain.
#   2. Causal verbs (cause, trigger, lead to, result in, "caused by") -> Cause-Effect.
#   3. Motion verb + "into/onto/to" -> Entity-Destination; "from/out of" after a motion or
#      derivation verb -> Entity-Origin.
#   4. "in/inside" where one entity is a container (box, jar, bag, bottle, drawer...)
#      -> Content-Container.
#   5. "of/'s/has a/with a" where one entity is a physical part (engine, handle, wheel,
#      page, roof...) -> Component-Whole; where one entity is a group (team, herd, flock,
#      committee...) -> Member-Collection.
#   6. Communication nouns (book, report, article, speech, film) + "about/on/describes"
#      -> Message-Topic.
#   7. "made/built/written/produced by" or a maker noun (company, factory, author)
#      -> Product-Producer.
#   8. "with/using" a tool after a person, or "used by" -> Instrument-Agency.
import re

CE, CW, CC, ED, EO, IA, MC, MT, PP = range(9)

CONTAINERS = {"box", "jar", "bag", "bottle", "drawer", "basket", "bowl", "cup", "can", "case",
              "container", "envelope", "suitcase", "tank", "pot", "barrel", "crate", "pocket",
              "vase", "bucket", "chest", "cabinet", "trunk", "package", "carton", "sack"}
PARTS = {"engine", "handle", "wheel", "wheels", "page", "pages", "roof", "door", "window",
         "wall", "screen", "button", "blade", "leg", "wing", "branch", "leaf", "lid", "seat",
         "keyboard", "motor", "battery", "lens", "floor", "chapter", "tail", "head", "frame"}
GROUPS = {"team", "herd", "flock", "committee", "group", "army", "crowd", "band", "club",
          "pack", "fleet", "family", "audience", "orchestra", "crew", "forest", "collection",
          "tribe", "colony", "swarm", "council", "jury", "choir", "class"}
MESSAGES = {"book", "report", "article", "speech", "film", "movie", "documentary", "lecture",
            "essay", "letter", "paper", "story", "poem", "song", "message", "email", "memo",
            "survey", "study", "thesis", "chapter", "novel", "law", "statement", "warning"}
MAKERS = {"company", "factory", "author", "manufacturer", "firm", "artist", "baker",
          "brewery", "writer", "painter", "composer", "plant", "farmer", "mill"}
MOTION = r"(moved|put|placed|poured|dropped|sent|thrown|threw|delivered|released|inserted|injected|migrated|fled|went|ran|flew|walked|dumped|added|transferred|shipped|carried|brought|imported|exported|pushed|fell|loaded)"


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
    if mid is None:
        return -1
    mid = " ".join(mid.split())
    if len(mid.split()) > 6:
        return -1
    heads = {_head(str(e1)), _head(str(e2))}
    if re.search(r"\b(caus\w*|trigger\w*|le[a]?d\s+to|leads\s+to|result\w*\s+(in|from)|induc\w*)\b", mid):
        return CE
    if re.search(r"\b" + MOTION + r"\b.*\b(into|onto|to|towards?)\b", mid) or re.search(r"\b(into|onto)\b", mid):
        return ED
    if re.search(r"\b(from|out\s+of)\b", mid) and re.search(
        r"\b(came|comes|derived|extracted|made|obtained|distilled|produced|originat\w*|" + MOTION[1:-1] + r")\b", mid
    ):
        return EO
    if heads & CONTAINERS and re.search(r"\b(in|inside|within|contain\w*|full\s+of|filled\s+with)\b", mid):
        return CC
    if re.search(r"\b(of|'s|has\s+a|have\s+a|with\s+a|with\s+the)\b|^'s", mid):
        if heads & GROUPS:
            return MC
        if heads & PARTS:
            return CW
    if heads & MESSAGES and re.search(r"\b(about|on|describ\w*|discuss\w*|explain\w*|regarding|concerning|of)\b", mid):
        return MT
    if re.search(r"\b(made|built|written|produced|manufactured|designed|created|baked|painted|composed)\s+by\b", mid):
        return PP
    if heads & MAKERS and re.search(r"\b(makes|made|produces|produced|builds|built|writes|wrote|manufactures)\b", mid):
        return PP
    if re.search(r"\bused\s+by\b|\busing\b", mid):
        return IA
    return -1
