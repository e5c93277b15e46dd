# prompt: alchemist prompt --spec trec --kind exemplars
# Stage-one reply (exemplars written by the LLM, not taken from data):
#   DESC: "What is a black hole ?", "Why do cats purr ?", "How does a rainbow form ?",
#         "What does photosynthesis mean ?", "What is the origin of Halloween ?"
#   ENTY: "What is the national animal of Scotland ?", "What color is a ruby ?",
#         "Which instrument did Louis Armstrong play ?", "What was the first video game ?",
#         "What language is spoken in Brazil ?"
#   HUM: "Who painted the Mona Lisa ?", "Who was the first man on the moon ?",
#        "What company makes the iPhone ?", "Who is Nelson Mandela ?",
#        "Which team won the 1966 World Cup ?"
#   ABBR: "What does NASA stand for ?", "What is the abbreviation for Massachusetts ?",
#         "What does CPU stand for ?", "What is the full form of AIDS ?",
#         "What does the acronym SCUBA mean ?"
#   LOC: "Where is Mount Everest ?", "What is the capital of Australia ?",
#        "Which country has the most lakes ?", "Where was Mozart born ?",
#        "What city hosted the 2000 Olympics ?"
#   NUM: "How many legs does a spider have ?", "When did World War II end ?",
#        "What year was the telephone invented ?", "How tall is the Eiffel Tower ?",
#        "What is the population of Canada ?"
import re

DESC, ENTY, HUM, ABBR, LOC, NUM = 0, 1, 2, 3, 4, 5

TEMPLATES = [
    (r"\b(stand|stands)\s+for\b|\babbreviation\s+(for|of)\b|\bfull\s+form\s+of\b|\bacronym\b", ABBR),
    (r"^who\s+(is|was)\s+[A-Z]\w+(\s+[A-Z]\w+)*\s*\?$", HUM),
    (r"^who\b", HUM),
    (r"^(what|which)\s+(company|team|group|organization|band|person)\b", HUM),
    (r"^where\b", LOC),
    (r"^what\s+is\s+the\s+capital\s+of\b", LOC),
    (r"^(what|which)\s+(country|city|state|continent|river|mountain|island|ocean)\b", LOC),
    (r"^how\s+(many|much|tall|long|far|old|high|big|fast|deep)\b", NUM),
    (r"^when\b", NUM),
    (r"^(what|which)\s+year\b|\bin\s+what\s+year\b", NUM),
    (r"^what\s+is\s+the\s+(population|height|length|distance|temperature|speed|area)\s+of\b", NUM),
    (r"^what\s+colou?r\b", ENTY),
    (r"^what\s+language\b", ENTY),
    (r"^(what|which)\s+(instrument|animal|sport|game|food|book|movie|film|song|plant|flower)\b", ENTY),
    (r"^what\s+(is|was)\s+the\s+(national|first|largest|most\s+popular)\s+(animal|bird|flower|dish|sport|game|drink|book|film|movie|language)\b", ENTY),
    (r"^why\b", DESC),
    (r"^how\s+(does|do|did|is|are|can)\b", DESC),
    (r"^what\s+does\s+\w+\s+mean\s*\?$", DESC),
    (r"^what\s+is\s+the\s+origin\s+of\b", DESC),
    (r"^what\s+(is|are)\s+(a|an)\s+\w+(\s+\w+)?\s*\?$", DESC),
]

COMPILED = [(re.compile(p, re.IGNORECASE if "[A-Z]" not in p else 0), c) for p, c in TEMPLATES]


def label(x):
    text = x["text"]
    if not text:
        return -1
    q = " ".join(str(text).split())
    if not q:
        return -1
    q = q[0].upper() + q[1:]
    for pattern, cls in COMPILED:
        if cls == HUM and pattern.flags & re.IGNORECASE == 0:
            # the "Who is <Name> ?" template is case sensitive; match the wh-word loosely
            probe = re.sub(r"^(?i:who)\b", "who", q)
            if pattern.search(probe):
                return cls
            continue
        if pattern.search(q):
            return cls
    return -1
