# prompt: alchemist prompt --spec medabs --kind none

LEXICON = {
    0: ["cancer", "tumor", "tumour", "neoplasm", "carcinoma", "sarcoma", "lymphoma", "leukemia",
        "melanoma", "metastas", "malignan", "chemotherapy", "radiotherapy", "oncolog", "adenoma",
        "glioma", "myeloma"],
    1: ["liver", "hepat", "cirrhosis", "gastric", "stomach", "intestin", "bowel", "colon", "colitis",
        "crohn", "pancrea", "gallbladder", "gallstone", "biliary", "esophag", "oesophag", "duoden",
        "peptic", "ulcer", "rectal", "appendic", "celiac", "endoscop"],
    2: ["stroke", "cerebral", "brain", "epilep", "seizure", "dementia", "alzheimer", "parkinson",
        "neuropath", "sclerosis", "migraine", "spinal cord", "neurolog", "nerve", "meningitis",
        "encephal", "palsy", "intracranial", "cognitive"],
    3: ["heart", "cardiac", "coronary", "myocardial", "infarction", "angina", "hypertens",
        "blood pressure", "arrhythmi", "atrial", "ventricular", "atheroscler", "aneurysm", "aortic",
        "angioplasty", "stent", "valve", "cardiomyopath", "thrombo", "vascular"],
    4: ["infection", "sepsis", "septic", "shock", "inflammat", "pain", "injury", "injuries",
        "trauma", "wound", "burn", "fever", "complication", "postoperative", "anesthesi",
        "anaesthesi", "bacteri", "viral", "fracture", "toxicity"],
}


def label(x):
    text = x["text"]
    if not text:
        return -1
    low = str(text).lower()
    counts = {}
    for cls, stems in LEXICON.items():
        counts[cls] = sum(low.count(s) for s in stems)
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    best_cls, best = ranked[0]
    second = ranked[1][1]
    if best < 2:
        return -1
    if best >= 2 * second or best - second >= 3:
        return best_cls
    return -1
