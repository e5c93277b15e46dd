# prompt: alchemist prompt --spec semeval --kind none
import re

CONTAINERS = {
    "box", "boxes", "bag", "bags", "jar", "jars", "bottle", "bottles", "can", "cup", "mug",
    "bowl", "basket", "barrel", "crate", "case", "suitcase", "envelope", "drawer", "cabinet",
    "closet", "container", "tank", "vessel", "pot", "pan", "tin", "carton", "package", "packet",
    "pocket", "purse", "wallet", "trunk", "chest", "vase", "bucket", "bin", "sack", "pouch",
    "tube", "vial", "flask", "jug", "glass", "refrigerator", "fridge", "safe", "folder", "cage",
    "tray", "canister", "capsule", "backpack", "briefcase", "handbag", "casket", "coffin", "urn",
}
MOTION = re.compile(
    r"\b(moved|move|moves|put|puts|placed|poured|pour|dropped|thrown|threw|sent|sends|send|"
    r"delivered|released|inserted|injected|migrated|imported|exported|pushed|pulled|fell|dumped|"
    r"added|transferred|emptied|shipped|carried|brought|went|came|arrived|driven|loaded|fed|"
    r"dispatched|deposited|launched|flew|walked|ran|travelled|traveled)\b",
    re.IGNORECASE,
)


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
    if mid is None or len(mid.split()) > 8:
        return -1
    has_container = _head(str(e1)) in CONTAINERS or _head(str(e2)) in CONTAINERS
    if re.search(r"\b(into|onto|to|towards?|inside)\b", mid) and MOTION.search(mid):
        return 3
    if re.search(r"\b(into|onto)\b", mid):
        return 3
    if has_container and re.search(r"\b(in|inside|within|contain(s|ed|ing)?|filled\s+with|full\s+of|held|kept|stored|packed|of)\b", mid):
        return 2
    if re.search(r"\b(contain(s|ed|ing)?|filled\s+with|full\s+of|stored\s+in|kept\s+in|enclosed\s+in|hidden\s+in)\b", mid):
        return 2
    return -1
