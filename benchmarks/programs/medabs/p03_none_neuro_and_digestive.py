# prompt: alchemist prompt --spec medabs --kind none
import re

NEURO = re.compile(
    r"\b(stroke|cerebral|cerebrovascular|brain|epilep\w*|seizures?|dementia|alzheimer\w*|"
    r"parkinson\w*|neuropath\w*|multiple\s+sclerosis|migraine|headache|spinal\s+cord|"
    r"neurolog\w*|nerve|nerves|neural|meningitis|encephal\w*|palsy|paralysis|"
    r"subarachnoid|intracranial|neuromuscular|myasthenia|amyotrophic|huntington\w*|"
    r"hydrocephalus|cognitive\s+impairment|aphasia)\b",
    re.IGNORECASE,
)
DIGESTIVE = re.compile(
    r"\b(liver|hepat\w*|cirrho\w*|gastr\w*|intestin\w*|bowel|colon|colonic|colitis|crohn\w*|"
    r"pancrea\w*|gallbladder|gallstones?|biliary|bile|cholecyst\w*|esophag\w*|oesophag\w*|"
    r"duoden\w*|ulcers?|peptic|rectal|rectum|anal|appendic\w*|celiac|coeliac|jaundice|"
    r"endoscop\w*|colonoscop\w*|dyspepsia|reflux|diverticul\w*|ileus|ileum|jejun\w*)\b",
    re.IGNORECASE,
)
CANCER = re.compile(r"\b(cancer|carcinoma|tumou?r|malignan\w*|metasta\w*|lymphoma|neoplas\w*)\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    if len(CANCER.findall(text)) >= 2:
        # tumours of the brain or the gut belong to neoplasms
        return -1
    neuro = len(NEURO.findall(text))
    dig = len(DIGESTIVE.findall(text))
    if neuro >= 2 and neuro >= 2 * dig:
        return 2
    if dig >= 2 and dig >= 2 * neuro:
        return 1
    return -1
