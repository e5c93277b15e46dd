# prompt: alchemist prompt --spec medabs --kind none
import re

CARDIO = re.compile(
    r"\b(cardiac|cardio\w*|heart|coronary|myocardial|myocardium|infarction|angina|"
    r"hypertensi\w*|blood\s+pressure|arrhythmi\w*|atrial|ventricular|fibrillation|"
    r"tachycardi\w*|bradycardi\w*|atheroscleros\w*|arterioscleros\w*|aneurysm\w*|"
    r"aortic|aorta|angioplasty|stent\w*|bypass|valvular|valve|cardiomyopath\w*|"
    r"thromboembol\w*|venous\s+thrombosis|embolism|vascular|ischemic\s+heart|"
    r"endocarditis|pericard\w*|electrocardiogra\w*|ecg|antihypertensive|beta-blocker\w*)\b",
    re.IGNORECASE,
)
OTHER = re.compile(r"\b(cancer|tumou?r|carcinoma|stroke|cerebral|liver|hepat\w*|colitis|pancrea\w*)\b", re.IGNORECASE)


def label(x):
    text = x["text"]
    if not text:
        return -1
    text = str(text)
    cardio = len(CARDIO.findall(text))
    other = len(OTHER.findall(text))
    if cardio >= 3 and cardio > 2 * other:
        return 3
    return -1
