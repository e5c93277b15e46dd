# prompt: alchemist prompt --spec chemprot --kind keywords
# Stage-one reply (keywords written by the LLM):
#   Part of: residue, amino acid, position, sequence, contains, domain, moiety
#   Regulator: binds, binding, interacts, regulates, affects, ligand, affinity, target,
#              mediates, associated with
#   Upregulator: activates, activator, induces, inducer, increases, stimulates, enhances,
#                upregulates, elevates, potentiates
#   Downregulator: inhibits, inhibitor, inhibition, suppresses, blocks, reduces, decreases,
#                  attenuates, downregulates, abolishes
#   Agonist: agonist, partial agonist, full agonist, agonistic
#   Antagonist: antagonist, antagonizes, competitive antagonist, inverse agonist
#   Modulator: modulator, modulates, allosteric, positive/negative allosteric modulator
#   Cofactor: cofactor, coenzyme, requires, dependent on, prosthetic group
#   Substrate/Product: substrate, metabolized, metabolism, catalyzes, converts, product,
#                      hydrolysis, transported, uptake, formation, synthesis
#   NOT: and, as well as, levels of, were measured, compared with, in the presence of
import re

PART, REG, UP, DOWN, AGO, ANTA, MOD, COF, SUB, NOT = range(10)

KEYWORDS = {
    PART: ["residue", "amino acid", "position", "sequence", "domain", "moiety"],
    REG: ["binds", "binding", "interacts", "regulates", "affects", "ligand", "affinity",
          "target", "mediates", "associated with"],
    UP: ["activates", "activator", "induces", "inducer", "increases", "increased", "stimulates",
         "enhances", "upregulates", "up-regulates", "elevates", "potentiates", "induced"],
    DOWN: ["inhibits", "inhibitor", "inhibition", "inhibited", "suppresses", "blocks", "reduces",
           "reduced", "decreases", "decreased", "attenuates", "downregulates", "down-regulates",
           "abolishes"],
    AGO: ["agonist", "partial agonist", "full agonist", "agonistic"],
    ANTA: ["antagonist", "antagonizes", "competitive antagonist", "inverse agonist"],
    MOD: ["modulator", "modulates", "allosteric"],
    COF: ["cofactor", "coenzyme", "requires", "dependent on", "prosthetic group"],
    SUB: ["substrate", "metabolized", "metabolism", "catalyzes", "converts", "product",
          "hydrolysis", "transported", "uptake", "formation", "synthesis"],
    NOT: ["as well as", "levels of", "were measured", "compared with", "in the presence of"],
}
PRIORITY = [ANTA, AGO, MOD, COF, SUB, PART, DOWN, UP, REG, NOT]


def _between(text, e1, e2):
    low = text.lower()
    i = low.find(e1.lower())
    j = low.find(e2.lower())
    if i < 0 or j < 0:
        return None
    if i <= j:
        return low[i + len(e1):j]
    return low[j + len(e2):i]


def label(x):
    text, e1, e2 = x["text"], x["entity1"], x["entity2"]
    if not text or not e1 or not e2:
        return -1
    mid = _between(str(text), str(e1), str(e2))
    if mid is None:
        return -1
    mid = " " + " ".join(mid.split()) + " "
    scores = dict.fromkeys(PRIORITY, 0)
    for cls, words in KEYWORDS.items():
        for w in words:
            if re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", mid):
                scores[cls] += 1
    # "inverse agonist" also contains "agonist": do not let it count for AGO
    if "inverse agonist" in mid:
        scores[AGO] = 0
    best = max(scores.values())
    if best == 0:
        return -1
    for cls in PRIORITY:
        if scores[cls] == best:
            return cls
    return -1
