# prompt: alchemist prompt --spec chemprot --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data; two of five per class):
#   Part of: "The [cysteine] residue at position 145 of [caspase-3] ...";
#            "[Serine] 473 of [Akt] is phosphorylated ..."
#   Regulator: "[Heparin] binds to [antithrombin] with high affinity."; "[Cholesterol]
#              regulates [HMG-CoA reductase] levels."
#   Upregulator: "[Forskolin] activates [adenylyl cyclase]."; "[Dexamethasone] induced the
#                expression of [MKP-1]."
#   Downregulator: "[Aspirin] irreversibly inhibits [COX-1]."; "[Metformin] reduced
#                  [mTOR] phosphorylation."
#   Agonist: "[Salbutamol] is a selective [beta2-adrenergic receptor] agonist.";
#            "[Morphine] acts as an agonist at the [mu-opioid receptor]."
#   Antagonist: "[Naloxone], an [opioid receptor] antagonist, ..."; "[Losartan] blocks the
#               [AT1 receptor] as a competitive antagonist."
#   Modulator: "[Diazepam] is a positive allosteric modulator of [GABA-A receptors]."
#   Cofactor: "[NADPH] serves as a cofactor for [nitric oxide synthase]."
#   Substrate/Product: "[CYP3A4] metabolizes [midazolam]."; "[Tyrosine hydroxylase] converts
#                      [tyrosine] to L-DOPA."
#   NOT: "[Ibuprofen] and [TNF-alpha] levels were measured in plasma."; "Patients received
#        [warfarin]; [albumin] was normal."
import re

PART, REG, UP, DOWN, AGO, ANTA, MOD, COF, SUB, NOT = range(10)

TEMPLATES = [
    (r"\bresidue\b|\bat\s+position\s+\d+|^\s*\d+\s+of\s*$|^\s*-?\d+\s*$", PART),
    (r"\ballosteric\s+modulator\b|\bmodulator\s+of\b", MOD),
    (r"\b(serves?|acts?)\s+as\s+(a|an)\s+cofactor\b|\bcofactor\s+(for|of)\b", COF),
    (r"\bmetaboliz(es|ed)\b|\bconverts?\b|\bconverted\b|\bsubstrates?\s+(of|for)\b", SUB),
    (r"\bantagonist\b", ANTA),
    (r"\bagonist\b", AGO),
    (r"\b(irreversibly\s+)?inhibit(s|ed)\b|\breduced\b|\bblocks?\b", DOWN),
    (r"\bactivat(es|ed)\b|\binduced\s+(the\s+)?(expression|activity)\s+of\b|\binduces\b", UP),
    (r"\bbinds?\s+(to\s+)?\b|\bregulates?\b", REG),
    (r"^\s*(,|and|or)\s*$|^\s*(and|,)\s+\w+\s*$", NOT),
    (r";|\.\s", NOT),
]
COMPILED = [(re.compile(p, re.IGNORECASE), c) for p, c in TEMPLATES]


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
    if mid is None:
        return -1
    mid = " ".join(mid.split())
    if len(mid.split()) > 12:
        return -1
    for pattern, cls in COMPILED:
        if pattern.search(mid):
            return cls
    return -1
