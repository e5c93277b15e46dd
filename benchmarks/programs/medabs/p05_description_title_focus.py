# prompt: alchemist prompt --spec medabs --kind description
# Supplementary information (the spec's description): texts are abstracts of clinical and
# biomedical research articles (title followed by the abstract); each abstract has exactly
# one category; choose the condition the study is mainly about.
import re

# The title names the main condition, so it counts three times as much as the body.
TERMS = {
    0: r"\b(cancers?|tumou?rs?|neoplas\w*|carcinom\w*|sarcom\w*|lymphom\w*|leuk(a)?emi\w*|melanom\w*|metasta\w*|malignan\w*|chemotherap\w*|radiotherap\w*|gliom\w*|myelom\w*|adenom\w*)\b",
    1: r"\b(liver|hepat\w*|cirrho\w*|gastr\w*|intestin\w*|bowel|colon|colitis|crohn\w*|pancrea\w*|gallbladder|gallstones?|biliary|cholecyst\w*|(o)?esophag\w*|duoden\w*|peptic|ulcers?|rectal|appendic\w*|c(o)?eliac)\b",
    2: r"\b(stroke|cerebr\w*|brain|epilep\w*|seizures?|dementia|alzheimer\w*|parkinson\w*|neuropath\w*|multiple\s+sclerosis|migraine|spinal\s+cord|neurolog\w*|nerves?|meningitis|encephal\w*|palsy|intracranial)\b",
    3: r"\b(heart|cardi\w*|coronary|myocardi\w*|infarction|angina|hypertensi\w*|blood\s+pressure|arrhythmi\w*|atrial|ventricular|atheroscl\w*|aneurysm\w*|aort\w*|angioplasty|stents?|valv\w*|thrombo\w*)\b",
    4: r"\b(infections?|infectious|sepsis|septic|shock|inflammat\w*|pain|injur\w*|trauma\w*|wounds?|burns?|fever|complications?|postoperative|bacter\w*|viral|toxicity|fractures?|hypoxi\w*)\b",
}
COMPILED = {c: re.compile(p, re.IGNORECASE) for c, p in TERMS.items()}


def _split_title(text):
    # the title is the first sentence (up to the first period followed by a space)
    m = re.match(r"^(.{10,300}?[.?!])\s", text)
    if m:
        return m.group(1), text[m.end():]
    return "", text


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = " ".join(str(text).split())
    title, body = _split_title(text)
    scores = {}
    for cls, pattern in COMPILED.items():
        scores[cls] = 3 * len(pattern.findall(title)) + len(pattern.findall(body))
    best_cls = max(scores, key=lambda c: scores[c])
    best = scores[best_cls]
    rest = sorted(scores.values(), reverse=True)[1]
    if best >= 3 and best > 1.5 * rest:
        return best_cls
    return -1
