# prompt: alchemist prompt --spec medabs --kind rules
# Stage-one reply (rules written by the LLM):
#   1. Any malignancy (cancer, carcinoma, tumour, lymphoma, leukaemia, metastases) as the
#      main subject -> neoplasms, even when it sits in the gut or brain.
#   2. Otherwise pick the organ system named most often: liver/GI tract/pancreas ->
#      digestive; brain/spinal cord/nerves -> nervous; heart/vessels/blood pressure ->
#      cardiovascular.
#   3. Infection, sepsis, pain, injury, burns, shock, inflammation or complications of
#      surgery/drugs without one dominant organ system -> general pathological conditions.
#   4. Words in the title outweigh words in the body.
#   5. When two systems are equally prominent, abstain.
import re

MALIGNANCY = re.compile(r"\b(cancers?|carcinom\w*|tumou?rs?|lymphom\w*|leuk(a)?emi\w*|metasta\w*|malignan\w*|neoplas\w*|sarcom\w*|melanom\w*)\b", re.IGNORECASE)
SYSTEMS = {
    1: re.compile(r"\b(liver|hepat\w*|cirrho\w*|gastr\w*|intestin\w*|bowel|colon\w*|colitis|pancrea\w*|biliary|gallbladder|(o)?esophag\w*|duoden\w*|ulcers?|rect\w*)\b", re.IGNORECASE),
    2: re.compile(r"\b(brain|cerebr\w*|stroke|spinal|nerves?|neur\w*|epilep\w*|seizures?|dementia|alzheimer\w*|parkinson\w*|migraine)\b", re.IGNORECASE),
    3: re.compile(r"\b(heart|cardi\w*|coronary|myocardi\w*|vascular|arter\w*|ven(ous|ous)|aort\w*|hypertensi\w*|blood\s+pressure|arrhythmi\w*|angina)\b", re.IGNORECASE),
}
GENERAL = re.compile(r"\b(infect\w*|sepsis|septic|pain\w*|injur\w*|burns?|shock|inflammat\w*|complications?|trauma\w*|wounds?|fever|postoperative|adverse\s+effects?)\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = " ".join(str(text).split())
    if not text:
        return -1
    cut = text.find(". ")
    title = text[:cut] if 0 < cut < 300 else ""
    body = text[len(title):]

    def count(pattern):
        return 2 * len(pattern.findall(title)) + len(pattern.findall(body))

    malignant = count(MALIGNANCY)
    if malignant >= 3 or (MALIGNANCY.search(title) and malignant >= 2):
        return 0
    systems = {cls: count(p) for cls, p in SYSTEMS.items()}
    best_cls = max(systems, key=lambda c: systems[c])
    best = systems[best_cls]
    others = sorted(systems.values(), reverse=True)[1]
    general = count(GENERAL)
    if best >= 3 and best > others and best >= general:
        return best_cls
    if general >= 3 and best <= 1:
        return 4
    return -1
