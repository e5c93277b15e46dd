# prompt: alchemist prompt --spec chemprot --kind rules
# Stage-one reply (rules written by the LLM):
#   1. Read the words linking the two mentions; if they are far apart (a long clause, a
#      semicolon or a sentence break between them) or only joined by "and"/commas, the
#      sentence likely states no relation: NOT.
#   2. Receptor pharmacology words win first: "antagonist"/"antagonizes" -> Antagonist,
#      "agonist" -> Agonist, "allosteric"/"modulator" -> Modulator.
#   3. Enzyme chemistry: "substrate", "metabolized by", "catalyzes", "converted" ->
#      Substrate/Product; "cofactor"/"coenzyme" -> Cofactor.
#   4. Direction words: inhibit/block/suppress/reduce -> Downregulator;
#      activate/induce/increase/stimulate -> Upregulator.
#   5. Binding or regulation without a direction -> Regulator.
#   6. "residue", "at position", an amino acid name next to a protein -> Part of.
#   7. Negated statements ("did not inhibit") -> NOT; otherwise abstain.
import re

PART, REG, UP, DOWN, AGO, ANTA, MOD, COF, SUB, NOT = range(10)

AMINO_ACIDS = r"(alanine|arginine|asparagine|aspartate|aspartic\s+acid|cysteine|glutamate|glutamic\s+acid|glutamine|glycine|histidine|isoleucine|leucine|lysine|methionine|phenylalanine|proline|serine|threonine|tryptophan|tyrosine|valine|ser|thr|tyr|cys|lys|his|asp|glu)"


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
    m = " ".join(mid.lower().split())
    n_words = len(m.split())
    # rule 1
    if ";" in m or re.search(r"\.\s+[a-z]", m) or n_words > 20:
        return NOT
    if re.fullmatch(r"[\s,]*(and|or|,|as\s+well\s+as|versus|vs\.?)[\s,]*", m):
        return NOT
    # rule 7 (negation)
    if re.search(r"\b(did\s+not|does\s+not|do\s+not|not|no\s+effect|failed\s+to|unaffected|neither)\b", m):
        return NOT
    # rule 2
    if re.search(r"\binverse\s+agonist|\bantagoni\w*", m):
        return ANTA
    if re.search(r"\bagonis(t|ts|tic|m)\b", m):
        return AGO
    if re.search(r"\ballosteric\b|\bmodulat\w*", m):
        return MOD
    # rule 3
    if re.search(r"\b(cofactor|co-factor|coenzyme)s?\b", m):
        return COF
    if re.search(r"\bsubstrates?\b|\bmetaboli[sz]\w*|\bcatalyz\w*|\bconvert\w*|\bhydroly[sz]\w*|\bproducts?\s+of\b", m):
        return SUB
    # rule 4
    if re.search(r"\b(inhibit|block|suppress|reduc|decreas|attenuat|abolish|down-?regulat)\w*", m):
        return DOWN
    if re.search(r"\b(activat|induc|increas|stimulat|enhanc|up-?regulat|elevat)\w*", m):
        return UP
    # rule 6
    if re.search(r"\bresidues?\b|\bat\s+position\b", m) or re.search(r"^\s*" + AMINO_ACIDS + r"\b", str(e1).lower()) and n_words <= 3:
        return PART
    # rule 5
    if re.search(r"\b(bind\w*|bound|interact\w*|regulat\w*|ligand|affinity)\b", m):
        return REG
    return -1
