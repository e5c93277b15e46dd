"""Source text of the offline generator's programs.

The functions here write the Python source of each kind of program the offline generator
produces (keyword lists, regex patterns and MiniLM nearest-prototype programs): the docstring
that says what the program does, where its rules came from and how it behaved on the rows at
hand, the constants and a short ``label``. User text (class names, keywords, example rows) is
made safe for docstrings, comments and string literals on the way. :class:`Candidate` is a
program before rendering, as the mining (:mod:`alchemist_core.generators.offline_mining`)
and the prototype fitting (:mod:`alchemist_core.generators.offline_prototypes`) build it.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alchemist_core.generators.offline_terms import Term
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.spec import TaskSpec


@dataclass
class Candidate:
    """A program before rendering: what it votes and how, plus its estimated behaviour."""

    kind: str  # short slug used in the program name
    priority: int  # lower is more important (kept first under max_programs)
    class_index: int | None  # None for multi-class programs (prototypes)
    source: str = ""
    votes_labeled: np.ndarray | None = None  # (n_labeled,) int, ABSTAIN = -1
    votes_sample: np.ndarray | None = None  # (n_sample,) int
    origin: dict[str, Any] = field(default_factory=dict)


def text_field_of(spec: TaskSpec) -> str:
    return "text" if "text" in spec.input_fields else spec.input_fields[0]


def class_slug(name: str, index: int, limit: int = 24) -> str:
    """A class name as lower_case ASCII for program names (``class<index>`` when nothing is left)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:limit].strip("_")
    return slug or f"class{index}"


def _constant(name: str, index: int) -> str:
    """A class name as an UPPER_CASE Python constant name."""
    slug = class_slug(name, index, limit=40).upper()
    return slug if slug[0].isalpha() and slug not in _RESERVED else f"CLASS_{slug}"


def _plain(text: str, limit: int | None = None) -> str:
    """``text`` safe inside a docstring or comment: one line, printable, no quotes or backslashes."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(text))
    cleaned = " ".join(cleaned.replace("\\", "/").replace('"', "'").split())
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 3].rstrip() + "..."
    return cleaned


def _literal(text: str) -> str:
    """A Python string literal for ``text``: a raw string where that is exact, else repr()."""
    if text.isprintable() and '"' not in text and not text.endswith("\\"):
        return f'r"{text}"' if "\\" in text else f'"{text}"'
    return repr(text)


def behaviour_note(candidate: Candidate, labels: np.ndarray) -> str:
    parts = []
    if len(labels):
        voted = candidate.votes_labeled != ABSTAIN
        if voted.any():
            precision = float((candidate.votes_labeled[voted] == labels[voted]).mean())
            parts.append(
                f"On the {len(labels)} labeled rows it votes on {voted.mean():.0%} and is right on "
                f"{precision:.0%} of those (an in-sample figure, so optimistic)."
            )
        else:
            parts.append(f"It votes on none of the {len(labels)} labeled rows.")
    if len(candidate.votes_sample):
        coverage = float((candidate.votes_sample != ABSTAIN).mean())
        parts.append(f"It votes on {coverage:.0%} of {len(candidate.votes_sample)} unlabeled sample rows.")
    return " ".join(parts)


def _docstring(summary: str, body: str) -> str:
    # Class names and keywords come from the user: _plain keeps quotes and backslashes out.
    wrapped = textwrap.fill(_plain(body), width=92, break_long_words=False, break_on_hyphens=False)
    return f'"""{_plain(summary)}\n\n{wrapped}\n"""\n'


_HEADER = "Written by Alchemist's offline generator (no LLM)."
# Module-level names of the generated programs, which a class constant must not shadow.
_RESERVED = frozenset({"ABSTAIN", "TERMS", "PATTERN", "PATTERNS", "FEATURES", "MARGINS", "PROTOTYPES"})


def render_keywords(spec: TaskSpec, c: int, terms: list[Term], why: str, behaviour: str, *, counted: bool) -> str:
    class_name = spec.class_names[c]
    constant = _constant(class_name, c)
    counted_terms = "1 word or phrase" if len(terms) == 1 else f"{len(terms)} words and phrases"
    summary = f"{_plain(class_name, 60)}: {counted_terms}."
    body = (
        f"{_HEADER} Votes {_plain(class_name)} (class {c}) when the text contains any term below "
        f"(whole words, any case; a space in a term matches any run of non-word characters); otherwise "
        f"abstains. {why} {behaviour}"
    )
    lines = [_docstring(summary, body), "import re", "", "ABSTAIN = -1", f"{constant} = {c}", ""]
    if counted:
        lines.append(f"# term, then: labeled rows of class {_plain(class_name)} / labeled rows that contain it")
    lines.append("TERMS = (")
    for term in terms:
        comment = f"  # {term.n_class}/{term.n_rows}" if counted else ""
        lines.append(f"    {_literal(term.value)},{comment}")
    lines += [
        ")",
        "",
        "",
        "def term_regex(term):",
        "    # Whole words; a space in a term matches any run of non-word characters.",
        '    return r"(?<!\\w)" + r"\\W+".join(re.escape(part) for part in term.split()) + r"(?!\\w)"',
        "",
        "",
        'PATTERN = re.compile("|".join(term_regex(term) for term in TERMS), re.IGNORECASE)',
        "",
        "",
        "def label(x):",
        f"    text = x.get({_literal(text_field_of(spec))})",
        "    if not isinstance(text, str):",
        "        return ABSTAIN",
        "    if PATTERN.search(text):",
        f"        return {constant}",
        "    return ABSTAIN",
        "",
    ]
    return "\n".join(lines)


def render_patterns(spec: TaskSpec, c: int, terms: list[Term], why: str, behaviour: str) -> str:
    class_name = spec.class_names[c]
    constant = _constant(class_name, c)
    counted_terms = "1 text pattern" if len(terms) == 1 else f"{len(terms)} text patterns"
    summary = f"{_plain(class_name, 60)}: {counted_terms} (openings and shapes)."
    body = (
        f"{_HEADER} Votes {_plain(class_name)} (class {c}) when the text matches any pattern below; "
        f"otherwise abstains. {why} {behaviour}"
    )
    lines = [
        _docstring(summary, body),
        "import re",
        "",
        "ABSTAIN = -1",
        f"{constant} = {c}",
        "",
        f"# (what it means, pattern), then: labeled rows of class {_plain(class_name)} / labeled rows that match",
        "PATTERNS = (",
    ]
    for term in terms:
        lines.append(
            f"    ({_literal(_plain(term.meaning))}, re.compile({_literal(term.regex)})),"
            f"  # {term.n_class}/{term.n_rows}"
        )
    lines += [
        ")",
        "",
        "",
        "def label(x):",
        f"    text = x.get({_literal(text_field_of(spec))})",
        "    if not isinstance(text, str):",
        "        return ABSTAIN",
        "    for meaning, pattern in PATTERNS:",
        "        if pattern.search(text):",
        f"            return {constant}",
        "    return ABSTAIN",
        "",
    ]
    return "\n".join(lines)


def render_prototypes(
    spec: TaskSpec,
    prototypes: np.ndarray,
    margins: np.ndarray,
    note: str,
    behaviour: str,
    sizes: list[str],
    examples: list[list[str]],
) -> str:
    summary = "Nearest class prototype over MiniLM sentence embeddings, with a margin per class."
    body = (
        f"{_HEADER} Uses the precomputed feature x['minilm'], the L2-normalised MiniLM embedding of "
        f"the row's text. Votes the class whose prototype is most similar (cosine) to it when that "
        f"similarity beats the runner-up's by at least the class's MARGIN; otherwise abstains. {note} {behaviour}"
    )
    lines = [
        _docstring(summary, body),
        'FEATURES = ("minilm",)',
        "",
        "ABSTAIN = -1",
        "",
        "MARGINS = (",
    ]
    for c, class_name in enumerate(spec.class_names):
        lines.append(f"    {margins[c]:.4f},  # {c} {_plain(class_name, 60)}")
    lines += [")", "", "PROTOTYPES = ("]
    for c, class_name in enumerate(spec.class_names):
        lines.append(f"    # {c} {_plain(class_name, 60)} ({sizes[c]}), e.g.")
        for text in examples[c]:
            lines.append(f"    #   {_plain(text, 84)}")
        lines.append("    (")
        values = [f"{v:.4f}".replace("-0.0000", "0.0000") for v in prototypes[c]]
        for i in range(0, len(values), 10):
            lines.append("        " + ", ".join(values[i : i + 10]) + ",")
        lines.append("    ),")
    lines += [
        ")",
        "",
        "",
        "def label(x):",
        '    embedding = x.get("minilm")',
        "    if embedding is None or len(embedding) != len(PROTOTYPES[0]):",
        "        return ABSTAIN",
        "    best, best_score, second_score = ABSTAIN, -2.0, -2.0",
        "    for index, prototype in enumerate(PROTOTYPES):",
        "        score = sum(a * b for a, b in zip(embedding, prototype))",
        "        if score > best_score:",
        "            best, best_score, second_score = index, score, best_score",
        "        elif score > second_score:",
        "            second_score = score",
        "    if best_score - second_score >= MARGINS[best]:",
        "        return best",
        "    return ABSTAIN",
        "",
    ]
    return "\n".join(lines)
