# prompt: alchemist prompt --spec medabs --kind keywords
# Stage-one reply (keywords written by the LLM):
#   neoplasms: cancer, tumor, carcinoma, malignant, metastasis, chemotherapy, radiotherapy,
#              lymphoma, leukemia, melanoma, oncology, biopsy, remission, survival
#   digestive: liver, hepatitis, cirrhosis, gastric, ulcer, colitis, Crohn's, pancreatitis,
#              gallbladder, esophageal, bowel, endoscopy, bleeding varices
#   nervous: stroke, epilepsy, seizure, dementia, Alzheimer's, Parkinson's, neuropathy,
#            multiple sclerosis, migraine, brain, spinal cord, cerebral
#   cardiovascular: heart failure, myocardial infarction, coronary, hypertension,
#                   arrhythmia, atrial fibrillation, angina, blood pressure, cardiac, stent
#   general: infection, sepsis, inflammation, pain, injury, trauma, shock, wound, fever,
#            complications, burns, postoperative
import re

KEYWORDS = {
    0: ["cancer", "tumor", "tumour", "carcinoma", "malignant", "metastasis", "metastases",
        "metastatic", "chemotherapy", "radiotherapy", "lymphoma", "leukemia", "leukaemia",
        "melanoma", "oncology", "biopsy", "remission"],
    1: ["liver", "hepatitis", "cirrhosis", "gastric", "ulcer", "colitis", "crohn", "pancreatitis",
        "gallbladder", "esophageal", "oesophageal", "bowel", "endoscopy", "varices"],
    2: ["stroke", "epilepsy", "seizure", "seizures", "dementia", "alzheimer", "parkinson",
        "neuropathy", "multiple sclerosis", "migraine", "brain", "spinal cord", "cerebral"],
    3: ["heart failure", "myocardial infarction", "coronary", "hypertension", "arrhythmia",
        "atrial fibrillation", "angina", "blood pressure", "cardiac", "stent"],
    4: ["infection", "sepsis", "inflammation", "pain", "injury", "trauma", "shock", "wound",
        "fever", "complications", "burns", "postoperative"],
}


def label(x):
    text = x["text"]
    if not text:
        return -1
    low = str(text).lower()
    scores = [0] * 5
    for cls, words in KEYWORDS.items():
        for w in words:
            scores[cls] += len(re.findall(r"\b" + re.escape(w), low))
    best = max(scores)
    if best < 2:
        return -1
    ordered = sorted(scores, reverse=True)
    if ordered[1] * 2 > best:
        return -1
    return scores.index(best)
