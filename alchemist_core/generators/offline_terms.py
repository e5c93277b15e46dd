"""Rules of the offline generator's keyword and regex programs.

A rule (:class:`Term`) is a word, a phrase, the opening words of a text, a generic shape of
text (a link, a number, money, an all-caps word, ...) or a keyword of the task spec, with the
labeled counts that support it. This module holds the table of text shapes and the regex each
kind of rule is matched and written with, shared by the mining
(:mod:`alchemist_core.generators.offline_mining`) and the program source rendering
(:mod:`alchemist_core.generators.offline_render`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (key, what it means, regex). Generic shapes of text, in no way specific to one dataset; the
# mining keeps only those that separate the classes of the labeled set at hand.
_SHAPES: tuple[tuple[str, str, str], ...] = (
    ("link", "contains a web link", r"(?i)https?://|www\.|\w\.(?:com|net|org|ly|be|io)\b"),
    ("email", "contains an e-mail address", r"\w@[\w-]+\.\w"),
    ("long_number", "contains a number of 5 or more digits", r"\d{5,}"),
    ("number", "contains a digit", r"\d"),
    ("money", "contains an amount of money", r"[$€£¥₹]\s?\d|\d\s?[$€£¥₹]"),
    ("percent", "contains a percentage", r"\d\s?%"),
    ("caps_word", "contains an all-caps word of 3 or more letters", r"\b[A-ZÀ-ÖØ-Þ]{3,}\b"),
    ("exclamation", "contains '!'", r"!"),
    ("repeated_punctuation", "contains '!!', '?!' or similar", r"[!?]{2,}"),
    ("question_mark", "contains '?'", r"\?"),
    ("ends_with_question", "ends with '?'", r"\?\s*$"),
    ("emoji", "contains an emoji or pictographic symbol", r"[\U0001F300-\U0001FAFF\u2600-\u27BF]"),
    ("elongated_word", "repeats a letter 3 or more times ('sooo')", r"([^\W\d_])\1{2,}"),
    ("mention", "contains an @mention or #hashtag", r"[@#](?<!\w[@#])\w"),
    ("very_short", "has at most 3 words", r"^\W*\w+(?:\W+\w+){0,2}\W*$"),
    ("short", "has at most 6 words", r"^\W*\w+(?:\W+\w+){0,5}\W*$"),
    ("long", "has at least 30 words", r"^\W*(?:\w+\W+){29}\w"),
    ("very_long", "has at least 100 words", r"^\W*(?:\w+\W+){99}\w"),
)
SHAPE_REGEX = {key: re.compile(regex) for key, _, regex in _SHAPES}
_SHAPE_INFO = {key: (meaning, regex) for key, meaning, regex in _SHAPES}


@dataclass(frozen=True)
class Term:
    """One mined or given rule: a word, phrase, opening or shape, with its labeled counts."""

    kind: str  # "word" | "phrase" | "prefix" | "shape" | "keyword"
    value: str  # the word/phrase/opening words, or the shape key
    n_class: int = 0  # labeled rows of the program's class that contain it
    n_rows: int = 0  # labeled rows that contain it

    @property
    def regex(self) -> str:
        if self.kind == "shape":
            return _SHAPE_INFO[self.value][1]
        if self.kind == "prefix":
            return r"(?i)^\W*" + r"\W+".join(re.escape(w) for w in self.value.split(" ")) + r"(?!\w)"
        return r"(?i)(?<!\w)" + phrase_regex(self.value) + r"(?!\w)"

    @property
    def meaning(self) -> str:
        if self.kind == "shape":
            return _SHAPE_INFO[self.value][0]
        return f"starts with '{self.value}'"


def phrase_regex(phrase: str) -> str:
    """A keyword or phrase as a regex: escaped, with any run of spaces matching any non-word run."""
    return r"\W+".join(re.escape(part) for part in phrase.split())
