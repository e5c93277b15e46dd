# prompt: alchemist prompt --spec medabs --kind keywords
# Stage-one reply (keywords written by the LLM), for general pathological conditions:
#   infection, bacterial, viral, sepsis, septic shock, inflammation, inflammatory, fever,
#   pain, analgesia, injury, trauma, wound, burns, fracture, shock, hypoxia, edema,
#   postoperative complications, adverse reactions, toxicity, HIV, AIDS, pneumonia
#   (negative cues: organ-specific disease names and cancer terms)
import re

GENERAL = re.compile(
    r"\b(infections?|bacterial|viral|sepsis|septic|inflammation|inflammatory|fever|pain|"
    r"analgesi\w*|injur(y|ies)|trauma\w*|wounds?|burns?|fractures?|shock|hypoxi\w*|o?edema|"
    r"complications?|adverse\s+reactions?|toxicity|hiv|aids|pneumonia|postoperative|"
    r"anesthesi\w*|anaesthesi\w*)\b",
    re.IGNORECASE,
)
SPECIFIC = re.compile(
    r"\b(cancer|carcinoma|tumou?r|lymphoma|leuk(a)?emia|metasta\w*|liver|hepat\w*|cirrhosis|"
    r"gastric|colitis|pancrea\w*|stroke|epilep\w*|dementia|brain|cerebral|heart|cardiac|coronary|"
    r"myocardial|hypertension)\b",
    re.IGNORECASE,
)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    general = len(GENERAL.findall(text))
    specific = len(SPECIFIC.findall(text))
    if general >= 3 and specific <= 1:
        return 4
    return -1
