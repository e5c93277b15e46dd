# prompt: alchemist prompt --spec medabs --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data; one line each):
#   neoplasms: "Adjuvant chemotherapy after resection of stage III colon carcinoma ...";
#              "Radiotherapy versus surgery for early glottic cancer ..."; "Tamoxifen in
#              postmenopausal women with node-positive breast cancer ..."
#   digestive: "Omeprazole versus ranitidine for healing of duodenal ulcer ...";
#              "Endoscopic sclerotherapy for bleeding oesophageal varices in cirrhosis ...";
#              "Laparoscopic cholecystectomy for acute cholecystitis ..."
#   nervous: "Carbamazepine monotherapy in newly diagnosed epilepsy ..."; "Thrombolysis in
#            acute ischemic stroke ..."; "Donepezil in mild to moderate Alzheimer's disease"
#   cardiovascular: "Enalapril in chronic congestive heart failure ..."; "Primary angioplasty
#                   versus thrombolysis in acute myocardial infarction ..."; "Amlodipine in
#                   mild essential hypertension ..."
#   general: "Antibiotic prophylaxis of wound infection after surgery ..."; "Postoperative
#            pain relief with epidural morphine ..."; "Fluid resuscitation in septic shock"
import re

PHRASES = [
    (r"\b(colon|breast|lung|prostate|gastric|rectal|ovarian|cervical|bladder|glottic|head\s+and\s+neck)\s+(cancer|carcinoma)\b", 0),
    (r"\b(adjuvant|neoadjuvant)\s+(chemotherapy|radiotherapy|therapy)\b", 0),
    (r"\b(metastatic|advanced|recurrent)\s+\w*\s*(cancer|carcinoma|disease|melanoma)\b", 0),
    (r"\b(non-hodgkin|hodgkin)'?s?\s+(lymphoma|disease)\b|\bacute\s+(myeloid|lymphoblastic)\s+leuk", 0),
    (r"\b(duodenal|gastric|peptic)\s+ulcers?\b", 1),
    (r"\b(o)?esophageal\s+varices\b|\bcirrhosis\b|\bchronic\s+hepatitis\b", 1),
    (r"\bcholecyst(itis|ectomy)\b|\bpancreatitis\b|\bulcerative\s+colitis\b|\bcrohn'?s\s+disease\b", 1),
    (r"\b(omeprazole|ranitidine|cimetidine|sucralfate|helicobacter)\b", 1),
    (r"\bepilep\w*\b|\bcarbamazepine\b|\bvalproate\b|\bphenytoin\b", 2),
    (r"\b(acute\s+)?(ischemic|ischaemic)?\s*stroke\b|\bsubarachnoid\s+ha?emorrhage\b", 2),
    (r"\balzheimer'?s\s+disease\b|\bdementia\b|\bparkinson'?s\s+disease\b|\bmultiple\s+sclerosis\b", 2),
    (r"\b(congestive\s+)?heart\s+failure\b|\bmyocardial\s+infarction\b|\bangina\s+pectoris\b", 3),
    (r"\b(essential\s+)?hypertension\b|\bcoronary\s+(artery\s+)?disease\b|\batrial\s+fibrillation\b", 3),
    (r"\b(enalapril|captopril|amlodipine|nifedipine|metoprolol|atenolol|digoxin|angioplasty)\b", 3),
    (r"\bwound\s+infection\b|\bseptic\s+shock\b|\bsepsis\b|\bantibiotic\s+prophylaxis\b", 4),
    (r"\bpostoperative\s+(pain|nausea|complications?)\b|\bpain\s+relief\b|\banalges\w*\b", 4),
]
COMPILED = [(re.compile(p, re.IGNORECASE), c) for p, c in PHRASES]


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    votes = [0, 0, 0, 0, 0]
    for pattern, cls in COMPILED:
        votes[cls] += len(pattern.findall(text))
    best = max(votes)
    if best == 0:
        return -1
    if votes.count(best) > 1:
        return -1
    return votes.index(best)
