# prompt: alchemist prompt --spec chemprot --kind keywords
# Stage-one reply (keywords written by the LLM), for the enzyme-chemistry classes:
#   Substrate/Product: substrate, metabolized by, metabolism of, catalyzes, catalysed,
#                      converts, conversion of, hydrolyzes, hydroxylation, oxidation,
#                      glucuronidation, transports, transporter, uptake of, efflux,
#                      product of, formation of, synthesized by, produced by
#   Cofactor: cofactor, coenzyme, requires, dependent, prosthetic group, heme, NAD, NADPH,
#             FAD, ATP-dependent, metal ion
#   Part of: residue, amino acid, at position, contains, side chain, in the sequence
import re

SUB = re.compile(
    r"\b(substrates?|metaboli[sz](ed|es|e|ing)|metabolism\s+of|catalyz\w*|catalys\w*|convert\w*|"
    r"conversion\s+of|hydroly[sz]\w*|hydroxylat\w*|oxidi[sz]\w*|oxidation|glucuronid\w*|"
    r"transport(s|ed|er|ers)?|uptake\s+of|efflux|products?\s+of|formation\s+of|synthesi[sz]ed\s+by|"
    r"produced\s+by|deaminat\w*|methylat\w*|acetylat\w*)\b",
    re.IGNORECASE,
)
COF = re.compile(r"\b(cofactors?|co-factors?|coenzymes?|requires?|prosthetic\s+group|[\w-]*-dependent)\b", re.IGNORECASE)
COFACTOR_CHEMS = re.compile(r"^(nadph?|nad\+?|fad|fmn|heme|haem|atp|coenzyme\s+a|coa|pyridoxal\s+phosphate|plp|thiamine|biotin|zinc|zn2\+|mg2\+|magnesium|iron|fe2\+|copper|cu2\+|manganese|mn2\+|tetrahydrobiopterin|bh4)$", re.IGNORECASE)
PART = re.compile(r"\b(residues?|amino\s+acids?|at\s+position|side\s+chain|in\s+the\s+sequence)\b", re.IGNORECASE)


def _between(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return text[i + len(e1):j]
    return text[j + len(e2):i]


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    mid = _between(str(text), str(e1), str(e2))
    if mid is None or len(mid.split()) > 12:
        return -1
    if COF.search(mid) and (COFACTOR_CHEMS.match(str(e1).strip()) or COFACTOR_CHEMS.match(str(e2).strip()) or re.search(r"\bcofactor|\bcoenzyme", mid, re.IGNORECASE)):
        return 7
    if PART.search(mid):
        return 0
    if SUB.search(mid):
        return 8
    return -1
