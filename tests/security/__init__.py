"""The hostile-program corpus and the realistic batch it runs on.

Each file in ``corpus/`` is one labeling program that attacks the sandbox or fails in a way
a careless program might. Its module docstring names the attack on its first line and the
expected outcome on an ``expect:`` line:

- ``static``: :func:`alchemist_core.programs.policy.check_program` rejects it; ``reason:`` is part of
  one of the violations;
- ``runtime:timeout``: it passes the policy and the worker's timer stops it;
- ``runtime:quarantined``: its votes are discarded with a reason that contains ``reason:``
  (its module failed to load, or it ignored the timer and its worker was killed);
- ``runtime:faults``: it raises on every row, and the first error contains ``reason:``;
- ``runtime:invalid``: it returns something other than a vote on every row, and the first
  invalid output contains ``reason:``;
- ``runtime:deterministic``: it tries to vote at random, and votes the same in every run.

Every runtime outcome but the last also means the program abstains on every row.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alchemist_core import LabelingProgram, ProgramSet

CORPUS_DIR = Path(__file__).with_name("corpus")

STATIC = "static"
RUNTIME_OUTCOMES = frozenset(
    {"runtime:timeout", "runtime:quarantined", "runtime:faults", "runtime:invalid", "runtime:deterministic"}
)
NEEDS_REASON = frozenset({STATIC, "runtime:quarantined", "runtime:faults", "runtime:invalid"})

N_CLASSES = 2
FIELDS = ("text", "author", "tags", "meta")

# Two well-behaved programs that read every field, run before and after each hostile one:
# the first shows that earlier votes survive, the second that the hostile program changed
# nothing the next program sees (rows, modules, memory).
GOOD_SPAM = '''\
import re

LINK = re.compile(r"https?://|www\\.|subscribe|check out", re.IGNORECASE)


def label(x):
    if LINK.search(x["text"]) or "promo" in x["tags"]:
        return 1
    return -1
'''
GOOD_HAM = '''\
from collections import Counter


def label(x):
    words = Counter(x["text"].lower().split())
    if "promo" in x["tags"] or x["author"].endswith("_bot"):
        return -1
    if x["meta"]["likes"] > 10 and (words["song"] or words["love"] or words["canción"]):
        return 0
    return -1
'''
EXPECTED = {
    "good_spam": [1, -1, 1, -1, -1, -1, 1, -1],
    "good_ham": [-1, 0, -1, 0, -1, 0, -1, 0],
}


@dataclass(frozen=True)
class HostileProgram:
    """One corpus file: the program and what must become of it."""

    name: str
    attack: str
    expect: str
    reason: str | None
    source: str

    @property
    def program(self) -> LabelingProgram:
        return LabelingProgram(self.name, self.source, origin={"generator": "human"})


def load_corpus(directory: Path = CORPUS_DIR) -> list[HostileProgram]:
    """Every corpus program, sorted by name."""
    programs = []
    for path in sorted(directory.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        lines = [line for line in docstring.splitlines() if line.startswith(("expect: ", "reason: "))]
        fields = dict(line.split(": ", 1) for line in lines)
        programs.append(
            HostileProgram(
                name=path.stem,
                attack=docstring.splitlines()[0] if docstring else "",
                expect=fields.get("expect", ""),
                reason=fields.get("reason"),
                source=source,
            )
        )
    return programs


def batch() -> pd.DataFrame:
    """Eight YouTube-style comments with a list field and a nested dict, as a partition arrives."""
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(8)],
            "text": [
                "Check out my channel www.example.com",
                "I love this song so much",
                "Subscribe for free gift cards!!!",
                "This song takes me back",
                "first",
                "love the guitar solo at 2:31",
                "cheap pills at http://spam.example",
                "canción preciosa",
            ],
            "author": ["promo_bot", "anna", "gifts4u", "ben", "carl", "dana", "x1", "eva"],
            "tags": [["promo"], [], ["promo", "giveaway"], ["nostalgia"], [], ["music"], [], []],
            "meta": [
                {"likes": 0, "lang": "en"},
                {"likes": 25, "lang": "en"},
                {"likes": 1, "lang": "en"},
                {"likes": 40, "lang": "en"},
                {"likes": 2, "lang": "en"},
                {"likes": 12, "lang": "en"},
                {"likes": 0, "lang": "en"},
                {"likes": 30, "lang": "es"},
            ],
            "label": [1, 0, 1, 0, 0, 0, 1, 0],
        }
    )


def good_programs() -> tuple[LabelingProgram, LabelingProgram]:
    return LabelingProgram("good_spam", GOOD_SPAM), LabelingProgram("good_ham", GOOD_HAM)


def between_good_programs(*hostile: HostileProgram) -> ProgramSet:
    """``good_spam``, the hostile programs, then ``good_ham``."""
    spam, ham = good_programs()
    return ProgramSet((spam, *(h.program for h in hostile), ham))
