# prompt: alchemist prompt --spec medabs --kind rules
# Stage-one reply (rules written by the LLM):
#   - Treatments point to the category: chemotherapy agents, radiotherapy and oncologic
#     surgery (mastectomy, resection of tumour) -> neoplasms; antihypertensives,
#     anticoagulants, angioplasty, bypass grafting, pacemakers -> cardiovascular;
#     anticonvulsants, thrombolysis for stroke, levodopa -> nervous; proton pump inhibitors,
#     H2 blockers, endoscopy, cholecystectomy, liver transplantation -> digestive;
#     antibiotics, analgesics, anaesthesia, wound care -> general.
#   - Use a treatment cue only when the abstract names it at least twice or names two
#     different treatments of the same category; otherwise abstain.
import re

TREATMENTS = {
    0: r"\b(chemotherapy|radiotherapy|radiation\s+therapy|cisplatin|doxorubicin|tamoxifen|methotrexate|fluorouracil|5-fu|cyclophosphamide|mastectomy|lumpectomy|interferon|tumou?r\s+resection|irradiation)\b",
    1: r"\b(omeprazole|ranitidine|cimetidine|famotidine|proton\s+pump|sucralfate|endoscop\w*|cholecystectomy|liver\s+transplant\w*|sclerotherapy|colonoscopy|mesalazine|sulfasalazine|lactulose)\b",
    2: r"\b(carbamazepine|phenytoin|valproate|levodopa|anticonvulsant\w*|antiepileptic\w*|thrombolysis|donepezil|craniotomy|nimodipine|sumatriptan)\b",
    3: r"\b(enalapril|captopril|lisinopril|amlodipine|nifedipine|diltiazem|verapamil|metoprolol|atenolol|propranolol|digoxin|warfarin|heparin|aspirin|angioplasty|bypass\s+graft\w*|pacemakers?|diuretics?|antihypertensive\w*|nitroglycerin|statins?)\b",
    4: r"\b(antibiotics?|antimicrobial|analgesi\w*|morphine|anesthesi\w*|anaesthesi\w*|ibuprofen|paracetamol|acetaminophen|wound\s+care|debridement|fluid\s+resuscitation|vaccin\w*)\b",
}
COMPILED = {c: re.compile(p, re.IGNORECASE) for c, p in TREATMENTS.items()}


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    found = {}
    for cls, pattern in COMPILED.items():
        hits = [h.lower() if isinstance(h, str) else h[0].lower() for h in pattern.findall(text)]
        found[cls] = (len(hits), len(set(hits)))
    qualified = [c for c, (n, distinct) in found.items() if n >= 2 or distinct >= 2]
    if len(qualified) == 1:
        return qualified[0]
    if len(qualified) > 1:
        ranked = sorted(qualified, key=lambda c: found[c][0], reverse=True)
        if found[ranked[0]][0] >= 2 * found[ranked[1]][0]:
            return ranked[0]
    return -1
