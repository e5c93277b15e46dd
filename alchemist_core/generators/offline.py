"""The ``offline`` generator: labeling programs synthesized without any LLM.

It writes real, readable program files (a docstring that says what the program does and where
its rules came from, keyword lists and compiled regexes as constants, a short ``label``) from
three sources:

* **the task spec**: the keywords of ``supplementary.keywords``, terms quoted in
  ``supplementary.rules`` that name one class, and the distinctive words of each class's name
  and description, one program per class and source;
* **a small labeled set**: ``context.labeled_rows`` (e.g. the valid split) plus the spec's
  examples and exemplars. Words, word bigrams, opening words ("how many ...") and text shapes
  (links, numbers, money, all-caps words, ...) whose Laplace-smoothed precision for one class
  clears a threshold are grouped into several programs per class (a high-precision group, a
  broader group, a regex group). The unlabeled sample rows drop the patterns that fire on
  almost every row and, through a second view of them (the embedding classifier below), the
  ones that look precise on the few labeled rows only by chance;
* **MiniLM sentence embeddings**: nearest-prototype programs whose class prototypes are the
  normalised mean embeddings of each class's labeled rows (or, without labels, of the spec's
  class descriptions, keywords and exemplars, refined on the unlabeled sample rows), voting
  only when the winner's margin over the runner-up clears a per-class threshold.

Every threshold is either a generic default or chosen on the labeled set given (the prototype
margins by cross-validation on it), never on a test split. The tokeniser is ``\\w+`` on
unicode text, so the generator works for any spec (2 or more classes, any language that
separates words with spaces or punctuation). Programs read the ``text`` input field, or the
first input field when there is none. Every candidate is checked with
:func:`alchemist_core.apply.validate_program` on sample rows; invalid ones are reported in
``GenerationResult.rejected`` with the reason.

The program contract
--------------------
A program is a module defining ``def label(x)``. ``x`` is a read-only mapping of the task's
input fields (e.g. ``x["text"]``; a value may be ``None``); ``label`` returns a class index
``0..k-1`` or ``-1`` (ABSTAIN). Programs may import only ``re``, ``math``, ``string``,
``collections``, ``itertools``, ``functools``, ``statistics`` and ``unicodedata``, and may not
use dunder names, ``getattr``, ``eval``, ``exec``, ``open``, ``type``, ``hash``, classes,
``with``, ``global``/``nonlocal`` or a bare ``except`` (see :mod:`alchemist_core.policy`).

Precomputed features: a program may declare a module-level ``FEATURES = ("minilm",)``. The
pipeline then computes, for every row, the L2-normalised all-MiniLM-L6-v2 embedding of the
row's text and passes it as ``x["minilm"]``, a sequence of 384 floats. The embedding is only
computed when at least one program of the set declares it.
"""

from __future__ import annotations

import logging
import math
import re
import textwrap
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from alchemist_core.generators.base import GenerationContext, GenerationResult, RejectedProgram
from alchemist_core.programs import ABSTAIN, LabelingProgram, ProgramSet
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)

Encoder = Callable[[Sequence[str]], np.ndarray]

_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r"\"([^\"]{1,60})\"|“([^”]{1,60})”|'([^']{1,60})'|«([^»]{1,60})»")

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
_SHAPE_REGEX = {key: re.compile(regex) for key, _, regex in _SHAPES}
_SHAPE_INFO = {key: (meaning, regex) for key, meaning, regex in _SHAPES}

_MAX_PREFIX_WORDS = 3
_CV_FOLDS = 5
_GROUPS = ("strong", "broad", "patterns")
# A prototype margin no cosine margin reaches (it is at most 2): the class is never voted.
_NEVER = 2.0


@dataclass(frozen=True)
class _Term:
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
        return r"(?i)(?<!\w)" + _phrase_regex(self.value) + r"(?!\w)"

    @property
    def meaning(self) -> str:
        if self.kind == "shape":
            return _SHAPE_INFO[self.value][0]
        return f"starts with '{self.value}'"


@dataclass
class _Candidate:
    """A program before rendering: what it votes and how, plus its estimated behaviour."""

    kind: str  # short slug used in the program name
    priority: int  # lower is more important (kept first under max_programs)
    class_index: int | None  # None for multi-class programs (prototypes)
    source: str = ""
    votes_labeled: np.ndarray | None = None  # (n_labeled,) int, ABSTAIN = -1
    votes_sample: np.ndarray | None = None  # (n_sample,) int
    origin: dict[str, Any] = field(default_factory=dict)


class OfflineGenerator:
    """Synthesize keyword, regex and embedding-prototype programs without an LLM.

    Parameters
    ----------
    max_programs : int, optional
        Keep at most this many programs (the most important first: prototypes, spec
        keywords, high-precision groups). ``None`` keeps every program the mining supports;
        ``context.n_programs`` is not a cap for this generator, which writes what the data
        supports.
    use_embeddings : bool
        Write MiniLM nearest-prototype programs (``FEATURES = ("minilm",)``).
    min_precision : float
        Lowest Laplace-smoothed precision ``(hits of the class + 1) / (hits + 2)`` of a mined
        term. The bar of a class is raised for frequent classes: it is at least
        ``prior + min_lift * (1 - prior)``.
    min_lift : float
        See ``min_precision``.
    min_support : int
        Labeled rows a mined term must occur in.
    max_coverage : float
        Drop a term that fires on more than this fraction of the (unlabeled) sample rows.
    max_terms : int
        Most terms in one keyword or regex program; a longer group is split into several.
    prototype_precision : float
        Cross-validated precision the high-confidence prototype program aims for.
    encoder : callable, optional
        ``texts -> (n, 384) float32`` L2-normalised embeddings; by default
        :func:`alchemist_core.features.encode_texts` (MiniLM). The generated programs assume
        the pipeline's ``x["minilm"]`` comes from the same encoder.
    validation_rows : int
        Sample rows each candidate is smoke-run on by :func:`alchemist_core.apply.validate_program`.
    limits : SandboxLimits, optional
        Sandbox limits for validation.
    """

    name = "offline"

    def __init__(
        self,
        *,
        max_programs: int | None = None,
        use_embeddings: bool = True,
        min_precision: float = 0.8,
        min_lift: float = 0.5,
        min_support: int = 3,
        max_coverage: float = 0.6,
        max_terms: int = 30,
        prototype_precision: float = 0.9,
        encoder: Encoder | None = None,
        validation_rows: int = 64,
        limits: Any = None,
    ):
        self.max_programs = max_programs
        self.use_embeddings = use_embeddings
        self.min_precision = min_precision
        self.min_lift = min_lift
        self.min_support = min_support
        self.max_coverage = max_coverage
        self.max_terms = max_terms
        self.prototype_precision = prototype_precision
        self.encoder = encoder
        self.validation_rows = validation_rows
        self.limits = limits

    # -- the protocol ------------------------------------------------------------------------
    def generate(self, context: GenerationContext) -> GenerationResult:
        """Write programs for ``context.spec`` from the spec, the labeled rows and the sample rows.

        Returns
        -------
        GenerationResult
            The valid programs, the rejected candidates with reasons, the number of candidates
            dropped as duplicates of an earlier one (same votes on every labeled and sample row),
            and ``details``: the rows seen, the terms mined per class and the prototype margins.

        Raises
        ------
        ValueError
            When a parameter is out of range or a labeled row's class index is not in the spec.
        """
        self._check_parameters()
        spec = context.spec
        n_classes = spec.n_classes
        text_field = _text_field(spec)
        labeled_texts, labels = _labeled_set(context, text_field)
        sample_texts = [_as_text(row.get(text_field)) for row in context.sample_rows]
        details: dict[str, Any] = {
            "text_field": text_field,
            "n_labeled_rows": len(labeled_texts),
            "n_sample_rows": len(sample_texts),
            "labeled_class_counts": np.bincount(labels, minlength=n_classes).tolist(),
        }
        logger.info(
            "offline: task %r, %d classes, %d labeled rows, %d sample rows",
            spec.name,
            n_classes,
            len(labeled_texts),
            len(sample_texts),
        )

        candidates: list[_Candidate] = []
        embeddings, verifier = None, None
        if self.use_embeddings:
            embeddings = self._embed(labeled_texts, sample_texts, spec)
            prototypes = _PrototypeBuilder(self, spec, labels, embeddings, labeled_texts, sample_texts, context.seed)
            candidates.extend(prototypes.candidates())
            details["prototypes"] = prototypes.summary
            verifier = prototypes.verifier
        miner = _Miner(self, spec, labeled_texts, labels, sample_texts, verifier, seed=context.seed)
        candidates += [*miner.spec_candidates(), *miner.mined_candidates()]
        details["mined"] = miner.summary

        candidates.sort(key=lambda c: (c.priority, -1 if c.class_index is None else c.class_index))
        kept, n_duplicates = _drop_duplicates(candidates)
        details["n_candidates"] = len(candidates)
        details["n_over_cap"] = 0
        if self.max_programs is not None and len(kept) > self.max_programs:
            details["n_over_cap"] = len(kept) - self.max_programs
            kept = kept[: self.max_programs]

        programs = [self._program(i + 1, candidate, spec) for i, candidate in enumerate(kept)]
        valid, rejected = self._validate(programs, context, text_field, sample_texts, embeddings)
        logger.info(
            "offline: wrote %d programs (%d rejected, %d duplicates) for task %r",
            len(valid),
            len(rejected),
            n_duplicates,
            spec.name,
        )
        return GenerationResult(
            program_set=ProgramSet(tuple(valid)),
            rejected=tuple(rejected),
            n_duplicates=n_duplicates,
            details=details,
        )

    # -- steps -------------------------------------------------------------------------------
    def _check_parameters(self) -> None:
        for name in ("min_precision", "max_coverage", "prototype_precision"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        if not 0.0 <= self.min_lift < 1.0:
            raise ValueError(f"min_lift must be in [0, 1), got {self.min_lift!r}")
        if self.min_support < 1 or self.max_terms < 1:
            raise ValueError(
                f"min_support and max_terms must be at least 1, got {self.min_support!r} and {self.max_terms!r}"
            )
        if self.max_programs is not None and self.max_programs < 1:
            raise ValueError(f"max_programs must be None or at least 1, got {self.max_programs!r}")

    def _embed(self, labeled_texts: list[str], sample_texts: list[str], spec: TaskSpec) -> dict[str, np.ndarray]:
        encoder = self.encoder
        if encoder is None:
            from alchemist_core.features import encode_texts

            encoder = encode_texts
        spec_texts = _spec_class_texts(spec)
        flat = [text for texts in spec_texts for text in texts]
        everything = np.asarray(encoder([*labeled_texts, *sample_texts, *flat]), dtype=np.float32)
        n_labeled, n_sample = len(labeled_texts), len(sample_texts)
        spec_rows, start = [], n_labeled + n_sample
        for texts in spec_texts:
            spec_rows.append(everything[start : start + len(texts)])
            start += len(texts)
        return {
            "labeled": everything[:n_labeled],  # (n_labeled, dim)
            "sample": everything[n_labeled : n_labeled + n_sample],  # (n_sample, dim)
            "spec": spec_rows,  # per class (n_texts_c, dim)
        }

    def _program(self, number: int, candidate: _Candidate, spec: TaskSpec) -> LabelingProgram:
        c = candidate.class_index
        target = "multiclass" if c is None else _slug(spec.class_names[c], c)
        name = f"offline_p{number:02d}_{target}_{candidate.kind}"[:80]
        origin = {"generator": "offline", **candidate.origin}
        return LabelingProgram(name, candidate.source, origin)

    def _validate(
        self,
        programs: list[LabelingProgram],
        context: GenerationContext,
        text_field: str,
        sample_texts: list[str],
        embeddings: dict[str, np.ndarray] | None,
    ) -> tuple[list[LabelingProgram], list[RejectedProgram]]:
        from alchemist_core.apply import validate_program

        rows = _validation_rows(context, text_field, self.validation_rows, embeddings)
        options = {} if self.limits is None else {"limits": self.limits}
        valid, rejected = [], []
        for program in programs:
            report = validate_program(program, rows, context.spec.n_classes, **options)
            if report.ok:
                valid.append(program)
            else:
                logger.warning("offline: program %s is invalid: %s", program.name, report.reason)
                rejected.append(RejectedProgram(program.name, str(report.reason), program.source))
        return valid, rejected


# -- mining ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Verifier:
    """A second view of the unlabeled sample rows: the nearest-prototype classifier's predictions.

    Among the sample rows a term of class ``c`` fires on, let ``q`` be the share the classifier
    puts in ``c``. With the classifier's cross-validated recall ``r`` and false-positive rate
    ``f`` for ``c``, the term's precision ``p`` gives ``q = p r + (1 - p) f``, so
    ``p = (q - f) / (r - f)``: an estimate from many more rows than the labeled set has, which
    catches the words that look perfect on a few labeled rows by chance.

    Without labels (zero-shot prototypes) the error rates are unknown; the check is then only
    that the classifier does not put the term's rows in ``c`` less often than it puts any row
    there (a lift of at least 1).
    """

    sample_prediction: np.ndarray  # (n_sample,) nearest class of each sample row
    recall: np.ndarray | None = None  # (n_classes,) cross-validated, where labels exist
    false_rate: np.ndarray | None = None  # (n_classes,)
    min_rows: int = 5

    @property
    def calibrated(self) -> bool:
        return self.recall is not None

    def precision(self, rows: Sequence[int], c: int) -> float | None:
        """The estimated precision of a term of class ``c`` firing on sample ``rows``, or None."""
        if not self.calibrated or len(rows) < self.min_rows:
            return None
        informative = self.recall[c] - self.false_rate[c]
        if informative < 0.2:
            return None
        q = self._share(rows, c)
        return float(np.clip((q - self.false_rate[c]) / informative, 0.0, 1.0))

    def refutes(self, rows: Sequence[int], c: int, bar: float) -> bool:
        """True when the sample rows show a term of class ``c`` is below ``bar`` (or, uncalibrated, below lift 1)."""
        if self.calibrated:
            estimate = self.precision(rows, c)
            return estimate is not None and estimate < bar
        if len(rows) < self.min_rows:
            return False
        return self._share(rows, c) < float((self.sample_prediction == c).mean())

    def _share(self, rows: Sequence[int], c: int) -> float:
        return float((self.sample_prediction[np.asarray(rows, dtype=np.int64)] == c).mean())


class _Miner:
    """Keyword and regex candidates from the spec and from the labeled rows."""

    def __init__(
        self,
        generator: OfflineGenerator,
        spec: TaskSpec,
        labeled_texts: list[str],
        labels: np.ndarray,
        sample_texts: list[str],
        verifier: _Verifier | None,
        *,
        seed: int = 0,
    ):
        self.g = generator
        self.spec = spec
        self.verifier = verifier
        self.seed = seed
        self.labels = labels
        self.n_classes = spec.n_classes
        self.labeled_texts = labeled_texts
        self.sample_texts = sample_texts
        self.labeled_features = [_row_features(t) for t in labeled_texts]
        self.sample_features = [_row_features(t) for t in sample_texts]
        # feature -> rows that have it
        self.labeled_rows_of = {k: np.asarray(v, dtype=np.int64) for k, v in _inverted(self.labeled_features).items()}
        self.sample_rows_of = _inverted(self.sample_features)
        counts = np.bincount(labels, minlength=self.n_classes) if len(labels) else np.zeros(self.n_classes, int)
        prior = (counts + 1) / (counts.sum() + self.n_classes)
        # (n_classes,) the smoothed precision a term needs: a frequent class needs more lift.
        self.thresholds = np.maximum(generator.min_precision, prior + generator.min_lift * (1 - prior))
        self.strong = self.thresholds + (1 - self.thresholds) / 2
        self.summary: dict[str, Any] = {}

    # spec ---------------------------------------------------------------------------------
    def spec_candidates(self) -> list[_Candidate]:
        spec, out = self.spec, []
        keywords = _spec_keywords(spec)
        described = _description_words(spec, self.sample_features)
        for c, class_name in enumerate(spec.class_names):
            given = [k for k in keywords[c] if self._acceptable_given(k, c, bar=0.5, must_be_seen=False)]
            if given:
                terms = [self._counted(_Term("keyword", k), c) for k in given]
                why = (
                    f"Its terms are the keywords given for {class_name} in the task spec (supplementary keywords and "
                    "terms quoted in its rules)."
                )
                out.append(self._keyword_candidate(c, terms, "spec_keywords", 10, why))
            # Description words are weaker evidence than keywords given on purpose: where labeled
            # rows exist they must occur in them, and where data can judge them they must clear
            # the bar of mined terms.
            words = [
                w
                for w in described[c]
                if w not in given and self._acceptable_given(w, c, bar=self.thresholds[c], must_be_seen=True)
            ]
            if words:
                terms = [self._counted(_Term("keyword", w), c) for w in words]
                why = (
                    f"Its terms are the words of the class name and description of {class_name} in the task spec "
                    "that no other class's name or description uses."
                )
                out.append(self._keyword_candidate(c, terms, "description_words", 60, why))
        return out

    def _acceptable_given(self, keyword: str, c: int, *, bar: float, must_be_seen: bool) -> bool:
        # A term from the spec is kept unless the data show its precision is below ``bar``: the
        # user (or a first-stage LLM) may know things a few labeled rows do not show.
        term = _Term("keyword", keyword)
        if len(self.labels):
            hits = self._hits(term, self.labeled_texts)
            n_rows = int(hits.sum())
            n_class = int((self.labels[hits] == c).sum())
            if must_be_seen and 2 * n_class <= n_rows:  # unseen, or wrong at least half the time
                return False
            if n_rows >= self.g.min_support and (n_class + 1) / (n_rows + 2) < bar:
                return False
        if self.verifier is not None:
            return not self.verifier.refutes(np.flatnonzero(self._hits(term, self.sample_texts)), c, bar)
        return True

    # labeled rows -------------------------------------------------------------------------
    def mined_candidates(self) -> list[_Candidate]:
        if not len(self.labels):
            return []
        groups, n_refuted = self._term_groups(np.ones(len(self.labels), dtype=bool))
        checked = self._cross_validated(groups)
        out: list[_Candidate] = []
        for c in range(self.n_classes):
            strong, broad, patterns = (groups[c][g] for g in _GROUPS)
            dropped = [g for g in _GROUPS if groups[c][g] and not checked[c][g][0]]
            self.summary[self.spec.class_names[c]] = {
                "strong_terms": len(strong),
                "broad_terms": len(broad),
                "patterns": len(patterns),
                "refuted_on_sample_rows": int(n_refuted[c]),
                "cross_validated_precision": {g: checked[c][g][1] for g in _GROUPS if checked[c][g][1] is not None},
                "dropped_after_cross_validation": dropped,
            }
            why = self._mining_note(c)
            if "strong" not in dropped:
                for chunk_index, chunk in enumerate(_chunks(strong, self.g.max_terms)):
                    kind = "strong_words" if chunk_index == 0 else f"strong_words{chunk_index + 1}"
                    note = why + self._cv_note(checked[c]["strong"][1]) + f" High-precision group: at least {self.strong[c]:.2f}."
                    out.append(self._keyword_candidate(c, chunk, kind, 20 + chunk_index, note))
            if "patterns" not in dropped:
                for chunk_index, chunk in enumerate(_chunks(patterns, self.g.max_terms)):
                    kind = "patterns" if chunk_index == 0 else f"patterns{chunk_index + 1}"
                    note = why + self._cv_note(checked[c]["patterns"][1])
                    out.append(self._pattern_candidate(c, chunk, kind, 30 + chunk_index, note))
            if broad and "broad" not in dropped:
                # Only the best-ranked broad terms: further down the ranking they get noisy.
                note = (
                    why + self._cv_note(checked[c]["broad"][1])
                    + f" Broader group: below {self.strong[c]:.2f}; the {self.g.max_terms} best-ranked at most."
                )
                out.append(self._keyword_candidate(c, broad[: self.g.max_terms], "words", 50, note))
        return out

    def _term_groups(self, mask: np.ndarray) -> tuple[list[dict[str, list[_Term]]], np.ndarray]:
        """Per class, the mined ``strong``, ``broad`` and ``patterns`` terms of the labeled rows in ``mask``."""
        n_sample = len(self.sample_texts)
        n_labeled = int(mask.sum())
        n_refuted = np.zeros(self.n_classes, dtype=np.int64)
        by_class: dict[int, list[tuple[float, _Term]]] = defaultdict(list)
        for key in sorted(self.labeled_rows_of):
            rows = self.labeled_rows_of[key]
            if len(rows) < self.g.min_support:
                continue
            rows = rows[mask[rows]]
            if len(rows) < self.g.min_support:
                continue
            per_class = np.bincount(self.labels[rows], minlength=self.n_classes)
            c = int(per_class.argmax())
            precision = (per_class[c] + 1) / (len(rows) + 2)
            if precision < self.thresholds[c]:
                continue
            sample_rows = self.sample_rows_of.get(key, ())
            coverage = len(sample_rows) / n_sample if n_sample else len(rows) / n_labeled
            if coverage > self.g.max_coverage:
                continue
            if self.verifier is not None:
                estimate = self.verifier.precision(sample_rows, c)
                if estimate is not None:
                    if estimate < self.thresholds[c]:
                        n_refuted[c] += 1
                        continue
                    precision = min(precision, estimate)
            by_class[c].append((precision, _Term(key[0], key[1], int(per_class[c]), len(rows))))

        groups = []
        for c in range(self.n_classes):
            # On equal evidence the more specific term ranks first ("how many" before "how").
            ranked = sorted(
                by_class[c], key=lambda pt: (-pt[0], -pt[1].n_rows, -len(pt[1].value.split()), pt[1].kind, pt[1].value)
            )
            terms = self._novel([t for _, t in ranked if t.kind in ("word", "phrase")], mask)
            patterns = self._novel([t for _, t in ranked if t.kind in ("prefix", "shape")], mask)
            precision_of = {(t.kind, t.value): p for p, t in ranked}
            groups.append(
                {
                    "strong": [t for t in terms if precision_of[(t.kind, t.value)] >= self.strong[c]],
                    "broad": [t for t in terms if precision_of[(t.kind, t.value)] < self.strong[c]][: self.g.max_terms],
                    "patterns": patterns,
                }
            )
        return groups, n_refuted

    def _cross_validated(self, groups: list[dict[str, list[_Term]]]) -> list[dict[str, tuple[bool, float | None]]]:
        """Per class and group: (keep it?, held-out precision), from mining repeated on folds.

        Words that happen to occur only in one class's rows of a small labeled set look
        precise in the rows they were mined from and nowhere else. So the mining is repeated
        :data:`_CV_FOLDS` times, each time without one fold of the labeled rows, and each group
        the repetition mines votes on the fold left out. A group whose held-out votes are
        (Laplace-smoothed) below the class's bar is dropped from the full mining too.
        """
        n_rows = len(self.labels)
        folds = _stratified_folds(self.labels, _CV_FOLDS, np.random.default_rng(self.seed))
        correct = np.zeros((self.n_classes, len(_GROUPS)))
        votes = np.zeros((self.n_classes, len(_GROUPS)))
        for k in range(_CV_FOLDS):
            held_out = folds == k
            if not held_out.any() or held_out.all():
                continue
            fold_groups, _ = self._term_groups(~held_out)
            for c in range(self.n_classes):
                for g, name in enumerate(_GROUPS):
                    fired = np.zeros(n_rows, dtype=bool)
                    for term in fold_groups[c][name]:
                        fired[self.labeled_rows_of[(term.kind, term.value)]] = True
                    fired &= held_out
                    votes[c, g] += fired.sum()
                    correct[c, g] += (self.labels[fired] == c).sum()
        out = []
        for c in range(self.n_classes):
            checked = {}
            for g, name in enumerate(_GROUPS):
                if not votes[c, g]:
                    # No held-out vote: nothing to judge by; the group stands on its in-sample evidence.
                    checked[name] = (True, None)
                    continue
                precision = float((correct[c, g] + 1) / (votes[c, g] + 2))
                keep = votes[c, g] < self.g.min_support or precision >= self.thresholds[c]
                checked[name] = (bool(keep), round(precision, 4))
            out.append(checked)
        return out

    @staticmethod
    def _cv_note(precision: float | None) -> str:
        if precision is None:
            return ""
        return (
            f" Mined again without each of {_CV_FOLDS} folds of the labeled rows, the group's votes on the "
            f"left-out rows were right {precision:.0%} of the time (Laplace-smoothed)."
        )

    def _mining_note(self, c: int) -> str:
        note = (
            f"Mined from {len(self.labels)} labeled rows: each term occurs in at least {self.g.min_support} of "
            f"them, at least {self.thresholds[c]:.2f} of those rows (Laplace-smoothed) have class "
            f"{self.spec.class_names[c]}, and it fires on at most {self.g.max_coverage:.0%} of the "
            + ("unlabeled sample rows." if self.sample_texts else "labeled rows.")
        )
        if self.verifier is not None and self.verifier.calibrated:
            note += (
                f" Where a term fires on at least {self.verifier.min_rows} sample rows, its precision there, "
                "estimated from the MiniLM nearest-prototype classifier's predictions corrected for that "
                "classifier's cross-validated error rates, clears the same bar."
            )
        return note

    def _novel(self, ranked: list[_Term], mask: np.ndarray) -> list[_Term]:
        """Keep, in rank order, the terms that fire on some labeled (in ``mask``) or sample row the earlier ones miss."""
        covered_labeled: set[int] = set()
        covered_sample: set[int] = set()
        kept = []
        for term in ranked:
            key = (term.kind, term.value)
            rows = self.labeled_rows_of.get(key, np.zeros(0, dtype=np.int64))
            labeled = set(rows[mask[rows]].tolist())
            sample = set(self.sample_rows_of.get(key, ()))
            if labeled - covered_labeled or sample - covered_sample:
                kept.append(term)
                covered_labeled |= labeled
                covered_sample |= sample
        return kept

    # rendering ----------------------------------------------------------------------------
    def _counted(self, term: _Term, c: int) -> _Term:
        if not len(self.labels):
            return term
        hits = self._hits(term, self.labeled_texts)
        return _Term(term.kind, term.value, int((self.labels[hits] == c).sum()), int(hits.sum()))

    @staticmethod
    def _hits(term: _Term, texts: list[str]) -> np.ndarray:
        pattern = re.compile(term.regex)
        return np.fromiter((bool(pattern.search(t)) for t in texts), bool, len(texts))

    def _keyword_candidate(self, c: int, terms: list[_Term], kind: str, priority: int, why: str) -> _Candidate:
        combined = re.compile(r"(?<!\w)(?:" + "|".join(_phrase_regex(t.value) for t in terms) + r")(?!\w)", re.I)
        candidate = _Candidate(kind, priority, c)
        self._estimate(candidate, lambda text: bool(combined.search(text)), c)
        behaviour = _behaviour_note(candidate, self.labels)
        candidate.source = _render_keywords(self.spec, c, terms, why, behaviour, counted=bool(len(self.labels)))
        candidate.origin = {"method": kind, "n_terms": len(terms), "n_labeled_rows": len(self.labels)}
        return candidate

    def _pattern_candidate(self, c: int, terms: list[_Term], kind: str, priority: int, why: str) -> _Candidate:
        compiled = [re.compile(t.regex) for t in terms]
        candidate = _Candidate(kind, priority, c)
        self._estimate(candidate, lambda text: any(p.search(text) for p in compiled), c)
        candidate.source = _render_patterns(self.spec, c, terms, why, _behaviour_note(candidate, self.labels))
        candidate.origin = {"method": kind, "n_terms": len(terms), "n_labeled_rows": len(self.labels)}
        return candidate

    def _estimate(self, candidate: _Candidate, fires: Callable[[str], bool], c: int) -> None:
        candidate.votes_labeled = np.array([c if fires(t) else ABSTAIN for t in self.labeled_texts], dtype=np.int64)
        candidate.votes_sample = np.array([c if fires(t) else ABSTAIN for t in self.sample_texts], dtype=np.int64)


# -- prototypes -----------------------------------------------------------------------------
class _PrototypeBuilder:
    """Nearest-prototype candidates over MiniLM embeddings."""

    def __init__(
        self,
        generator: OfflineGenerator,
        spec: TaskSpec,
        labels: np.ndarray,
        embeddings: dict[str, Any],
        labeled_texts: list[str],
        sample_texts: list[str],
        seed: int,
    ):
        self.g = generator
        self.labeled_texts = labeled_texts  # only for the example comments
        self.sample_texts = sample_texts
        self.spec = spec
        self.labels = labels
        self.E_labeled = embeddings["labeled"]  # (n_labeled, dim)
        self.E_sample = embeddings["sample"]  # (n_sample, dim)
        self.E_spec = embeddings["spec"]  # per class (n_texts_c, dim)
        self.rng = np.random.default_rng(seed)
        self.summary: dict[str, Any] = {}
        self.verifier: _Verifier | None = None

    def candidates(self) -> list[_Candidate]:
        n_classes = self.spec.n_classes
        counts = np.bincount(self.labels, minlength=n_classes) if len(self.labels) else np.zeros(n_classes, int)
        if counts.min() >= 2 and len(self.labels) >= 4 * n_classes:
            return self._from_labels(counts)
        return self._from_spec(counts)

    def _from_labels(self, counts: np.ndarray) -> list[_Candidate]:
        n_classes = self.spec.n_classes
        prototypes = _round(_class_means(self.E_labeled, self.labels, n_classes))
        predicted, margins = self._cross_validated()
        correct = predicted == self.labels
        if len(self.E_sample):
            self.verifier = _Verifier(
                sample_prediction=_margins(self.E_sample, prototypes)[0],
                recall=np.array([(predicted[self.labels == c] == c).mean() for c in range(n_classes)]),
                false_rate=np.array([(predicted[self.labels != c] == c).mean() for c in range(n_classes)]),
            )
        confident = _margins_for_precision(predicted, margins, correct, self.g.prototype_precision, n_classes)
        broad = _margins_for_net_votes(predicted, margins, correct, n_classes)
        self.summary = {
            "source": "labeled rows",
            "cv_accuracy": round(float(correct.mean()), 4),
            "margins": {"confident": confident.tolist(), "broad": broad.tolist()},
        }
        note = (
            f"Each prototype is the L2-normalised mean MiniLM embedding of one class's labeled rows "
            f"({len(self.labels)} labeled rows in all), rounded to 4 decimals."
        )
        examples = _examples_per_class(self.E_labeled, self.labels, prototypes, self.labeled_texts)
        sizes = [f"{int(n)} labeled rows" for n in counts]
        out = []
        for kind, margin, priority in (("prototype", confident, 5), ("prototype_broad", broad, 40)):
            if kind == "prototype_broad" and (broad >= confident).all():
                continue
            votes = margins >= margin[predicted]
            how = (
                f"MARGINS were chosen by {_CV_FOLDS}-fold cross-validation on the labeled rows, class by class: "
                + (
                    f"the smallest margin whose held-out votes for the class were at least "
                    f"{self.g.prototype_precision:.0%} correct (or, where none was, the most precise margin)"
                    if kind == "prototype"
                    else "the margin that maximises the class's held-out net votes (a correct vote counts 1, "
                    "a wrong one 1/(number of classes - 1))"
                )
                + f"; held-out precision {correct[votes].mean() if votes.any() else 0:.2f}, "
                f"coverage {votes.mean():.2f}."
            )
            if (margin >= _NEVER).any():
                how += f" A margin of {_NEVER:.1f} means the class is never voted."
            out.append(self._candidate(kind, priority, prototypes, margin, note + " " + how, sizes, examples))
        return out

    def _from_spec(self, counts: np.ndarray) -> list[_Candidate]:
        n_classes = self.spec.n_classes
        initial = []
        for c in range(n_classes):
            rows = [self.E_spec[c]]
            if counts[c]:
                rows.append(self.E_labeled[self.labels == c])
            initial.append(_normalise(np.concatenate(rows).mean(axis=0)))
        prototypes = np.stack(initial)
        refined = False
        if len(self.E_sample) >= 20 * n_classes:
            prototypes, refined = _refine_on_sample(prototypes, self.E_sample), True
        prototypes = _round(prototypes)
        if len(self.E_sample):
            self.verifier = _Verifier(sample_prediction=_margins(self.E_sample, prototypes)[0])
        reference = self.E_sample if len(self.E_sample) else self.E_labeled
        # No labels to calibrate on: per class, vote on the more confident half (and, broadly,
        # on 80%) of the rows the class wins.
        if len(reference):
            nearest, margins = _margins(reference, prototypes)
            confident = _margins_at_quantile(nearest, margins, 0.5, n_classes)
            broad = _margins_at_quantile(nearest, margins, 0.2, n_classes)
        else:
            # Not a single row to look at: generic margins.
            confident, broad = np.full(n_classes, 0.05), np.zeros(n_classes)
        self.summary = {
            "source": "task spec" + (" refined on sample rows" if refined else ""),
            "margins": {"confident": confident.tolist(), "broad": broad.tolist()},
        }
        note = (
            "Each prototype starts as the L2-normalised mean MiniLM embedding of the class's name and "
            "description, keywords and exemplars in the task spec"
            + (", plus its labeled rows" if counts.sum() else "")
            + (
                "; it was then refined on the unlabeled sample rows (three rounds of: assign each row to its "
                "nearest prototype, keep the more confident half, average)"
                if refined
                else ""
            )
            + ". Rounded to 4 decimals."
        )
        examples = (
            _examples_per_class(self.E_sample, _margins(self.E_sample, prototypes)[0], prototypes, self.sample_texts)
            if len(self.E_sample)
            else [[] for _ in range(n_classes)]
        )
        sizes = ["task spec" for _ in range(n_classes)]
        out = []
        for kind, margin, quantile, priority in (
            ("prototype", confident, 0.5, 15),
            ("prototype_broad", broad, 0.8, 45),
        ):
            how = (
                f"Without labels to calibrate on, the MARGIN of a class is the margin at the {quantile:.0%} "
                "mark of the unlabeled sample rows it wins, ranked by margin, so the program votes on about "
                "that share of them."
            )
            out.append(self._candidate(kind, priority, prototypes, margin, note + " " + how, sizes, examples))
        return out

    def _cross_validated(self) -> tuple[np.ndarray, np.ndarray]:
        """Held-out (nearest class, margin) of every labeled row, prototypes fit on the other folds."""
        n_classes = self.spec.n_classes
        fold = _stratified_folds(self.labels, _CV_FOLDS, self.rng)
        predicted = np.zeros(len(self.labels), dtype=np.int64)
        margins = np.zeros(len(self.labels))
        for k in range(_CV_FOLDS):
            test = fold == k
            if not test.any():
                continue
            train = ~test
            means = _class_means(self.E_labeled[train], self.labels[train], n_classes)
            best, margin = _margins(self.E_labeled[test], _round(means))
            predicted[test] = best
            margins[test] = margin
        return predicted, margins

    def _candidate(
        self,
        kind: str,
        priority: int,
        prototypes: np.ndarray,
        margin: np.ndarray,
        note: str,
        sizes: list[str],
        examples: list[list[str]],
    ) -> _Candidate:
        candidate = _Candidate(kind, priority, None)
        for which, E in (("labeled", self.E_labeled), ("sample", self.E_sample)):
            best, margins = _margins(E, prototypes) if len(E) else (np.zeros(0, int), np.zeros(0))
            votes = np.where(margins >= margin[best], best, ABSTAIN).astype(np.int64)
            setattr(candidate, f"votes_{which}", votes)
        behaviour = _behaviour_note(candidate, self.labels)
        candidate.source = _render_prototypes(self.spec, prototypes, margin, note, behaviour, sizes, examples)
        candidate.origin = {"method": kind, "margins": margin.tolist(), "n_labeled_rows": len(self.labels)}
        return candidate


def _stratified_folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold index per labeled row; each class's rows are dealt over the folds in a random order."""
    fold = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        fold[members] = rng.permutation(len(members)) % n_folds
    return fold


def _class_means(E: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, dim) normalised class means; a class without rows gets a zero vector."""
    means = np.zeros((n_classes, E.shape[1]), dtype=np.float64)
    for c in range(n_classes):
        rows = E[labels == c]
        if len(rows):
            means[c] = _normalise(rows.mean(axis=0))
    return means


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def _round(prototypes: np.ndarray) -> np.ndarray:
    # The program holds the rounded numbers, so every estimate uses them too.
    return np.round(np.asarray(prototypes, dtype=np.float64), 4)


def _margins(E: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest class, cosine margin over the runner-up) of each row of ``E``."""
    scores = np.asarray(E, dtype=np.float64) @ prototypes.T  # (n_rows, n_classes)
    order = np.argsort(-scores, axis=1, kind="stable")
    best = order[:, 0]
    rows = np.arange(len(scores))
    return best, scores[rows, best] - scores[rows, order[:, 1]]


def _margins_for_precision(
    predicted: np.ndarray, margins: np.ndarray, correct: np.ndarray, target: float, n_classes: int
) -> np.ndarray:
    """Per class, the smallest margin whose held-out votes for the class reach ``target`` precision.

    Only margins that keep at least 10% of the class's held-out votes (and 3) count; where none
    reaches ``target``, the most precise of them. A class never predicted gets :data:`_NEVER`.
    """
    out = np.full(n_classes, _NEVER)
    for c in range(n_classes):
        voted = predicted == c
        if not voted.any():
            continue
        order = np.argsort(-margins[voted], kind="stable")
        ranked_margins, ranked_correct = margins[voted][order], correct[voted][order]
        n_votes = np.arange(1, len(order) + 1)
        precision = np.cumsum(ranked_correct) / n_votes
        enough = n_votes >= max(3, math.ceil(0.1 * len(order)))
        if not enough.any():
            continue
        reaching = np.flatnonzero(enough & (precision >= target))
        index = reaching[-1] if len(reaching) else int(np.flatnonzero(enough)[np.argmax(precision[enough])])
        out[c] = round(float(ranked_margins[index]), 4)
    return out


def _margins_for_net_votes(
    predicted: np.ndarray, margins: np.ndarray, correct: np.ndarray, n_classes: int
) -> np.ndarray:
    """Per class, the margin that maximises the class's held-out net votes.

    A correct vote counts +1 and a wrong one ``-1 / (n_classes - 1)``: with ``k`` classes a
    vote carries information as long as it is right more often than ``1 / k`` (a uniform
    guess), not ``1 / 2``; for two classes this is correct minus wrong votes.
    """
    out = np.full(n_classes, _NEVER)
    wrong_cost = 1.0 / max(n_classes - 1, 1)
    for c in range(n_classes):
        voted = predicted == c
        if not voted.any():
            continue
        order = np.argsort(-margins[voted], kind="stable")
        net = np.cumsum(np.where(correct[voted][order], 1.0, -wrong_cost))
        if net.max() > 0:
            out[c] = round(float(margins[voted][order][int(np.argmax(net))]), 4)
    return out


def _margins_at_quantile(nearest: np.ndarray, margins: np.ndarray, quantile: float, n_classes: int) -> np.ndarray:
    """Per class, the ``quantile`` of the margins of the rows the class wins (:data:`_NEVER` if none)."""
    out = np.full(n_classes, _NEVER)
    for c in range(n_classes):
        won = margins[nearest == c]
        if len(won):
            out[c] = round(float(np.quantile(won, quantile)), 4)
    return out


def _refine_on_sample(prototypes: np.ndarray, E: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Move zero-shot prototypes toward the unlabeled rows they confidently attract."""
    for _ in range(rounds):
        best, margin = _margins(E, prototypes)
        updated = prototypes.copy()
        for c in range(len(prototypes)):
            members = best == c
            if members.sum() < 3:
                continue
            confident = members & (margin >= np.median(margin[members]))
            updated[c] = _normalise(E[confident].mean(axis=0) + prototypes[c])
        prototypes = updated
    return prototypes


def _examples_per_class(
    E: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, texts: list[str], n: int = 2
) -> list[list[str]]:
    """Per class, the texts of the ``n`` rows of that class nearest its prototype."""
    out = []
    for c in range(len(prototypes)):
        members = np.flatnonzero(labels == c)
        if not len(members) or not texts:
            out.append([])
            continue
        similarity = E[members] @ prototypes[c]
        chosen = members[np.argsort(-similarity, kind="stable")[:n]]
        out.append([texts[i] for i in chosen])
    return out


# -- helpers ---------------------------------------------------------------------------------
def _text_field(spec: TaskSpec) -> str:
    return "text" if "text" in spec.input_fields else spec.input_fields[0]


def _as_text(value: Any) -> str:
    # The generated programs abstain on a value that is not a str; mining sees it as empty.
    return value if isinstance(value, str) else ""


def _labeled_set(context: GenerationContext, text_field: str) -> tuple[list[str], np.ndarray]:
    """The labeled texts and class indices: ``context.labeled_rows``, the spec's examples and exemplars.

    A text seen twice counts once (its first label), so the spec's examples may be in
    ``labeled_rows`` already.
    """
    spec = context.spec
    seen: set[str] = set()
    texts, labels = [], []

    def add(text: str, label: int) -> None:
        if text in seen:
            return
        seen.add(text)
        texts.append(text)
        labels.append(label)

    for i, item in enumerate(context.labeled_rows):
        try:
            row, label = item
        except (TypeError, ValueError):
            raise ValueError(f"labeled_rows[{i}] must be a (row, class index) pair, got {item!r:.80}") from None
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < spec.n_classes:
            raise ValueError(f"labeled_rows[{i}] has class {label!r}; expected an int in 0..{spec.n_classes - 1}")
        add(_as_text(row.get(text_field)), int(label))
    for example in spec.examples:
        add(_as_text(example.fields.get(text_field)), spec.class_index(example.label))
    for class_name, exemplars in spec.supplementary.exemplars.items():
        for exemplar in exemplars:
            add(_as_text(exemplar), spec.class_index(class_name))
    return texts, np.asarray(labels, dtype=np.int64)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _row_features(text: str) -> set[tuple[str, str]]:
    tokens = _tokens(text)
    # Long digit runs are phone numbers and ids: unique to a row, the "long_number" shape covers them.
    words = [t for t in tokens if not (t.isdigit() and len(t) > 4)]
    features = {("word", w) for w in words}
    features.update(("phrase", f"{a} {b}") for a, b in zip(tokens, tokens[1:]))
    features.update(("prefix", " ".join(tokens[:k])) for k in range(1, min(_MAX_PREFIX_WORDS, len(tokens)) + 1))
    features.update(("shape", key) for key, regex in _SHAPE_REGEX.items() if regex.search(text))
    return features


def _inverted(row_features: list[set[tuple[str, str]]]) -> dict[tuple[str, str], list[int]]:
    rows_of: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, features in enumerate(row_features):
        for key in features:
            rows_of[key].append(i)
    return rows_of


def _phrase_regex(phrase: str) -> str:
    """A keyword or phrase as a regex: escaped, with any run of spaces matching any non-word run."""
    return r"\W+".join(re.escape(part) for part in phrase.split())


def _spec_keywords(spec: TaskSpec) -> list[list[str]]:
    """Per class, the spec's keywords and the terms quoted in rules that name only that class."""
    out: list[list[str]] = [[] for _ in spec.class_names]
    for c, class_name in enumerate(spec.class_names):
        for keyword in spec.supplementary.keywords.get(class_name, []):
            keyword = " ".join(str(keyword).split())
            if keyword and keyword.lower() not in {k.lower() for k in out[c]}:
                out[c].append(keyword)
    for rule in spec.supplementary.rules:
        named = [
            c
            for c, class_name in enumerate(spec.class_names)
            if re.search(r"(?<!\w)" + re.escape(class_name) + r"(?!\w)", rule, re.IGNORECASE)
        ]
        if len(named) != 1:
            continue
        for match in _QUOTED.finditer(rule):
            term = " ".join(next(g for g in match.groups() if g).split())
            if term and term.lower() != spec.class_names[named[0]].lower() and term.lower() not in {
                k.lower() for k in out[named[0]]
            }:
                out[named[0]].append(term)
    return out


def _description_words(spec: TaskSpec, sample_features: list[set[tuple[str, str]]]) -> list[list[str]]:
    """Per class, words of its name and description that no other class's name or description has.

    Words shorter than 4 letters, words of the instruction and, where sample rows exist, words
    found in more than 10% of them (the "the" and "with" of any language) are left out.
    """
    instruction = set(_tokens(spec.instruction))
    per_class = [set(_tokens(f"{c.name} {c.description}")) for c in spec.classes]
    common: set[str] = set()
    if sample_features:
        frequency: dict[str, int] = defaultdict(int)
        for features in sample_features:
            for kind, value in features:
                if kind == "word":
                    frequency[value] += 1
        common = {w for w, n in frequency.items() if n > 0.1 * len(sample_features)}
    out = []
    for c, words in enumerate(per_class):
        others = set().union(*(w for k, w in enumerate(per_class) if k != c))
        keep = sorted(
            w for w in words - others - instruction - common if len(w) >= 4 and not w.isdigit()
        )
        out.append(keep)
    return out


def _spec_class_texts(spec: TaskSpec) -> list[list[str]]:
    """Per class, the texts that describe it: name and description, keywords, exemplars."""
    out = []
    for c in spec.classes:
        texts = [f"{c.name}: {c.description}" if c.description else c.name]
        keywords = spec.supplementary.keywords.get(c.name, [])
        if keywords:
            texts.append(", ".join(str(k) for k in keywords))
        texts.extend(str(e) for e in spec.supplementary.exemplars.get(c.name, []))
        out.append(texts)
    return out


def _validation_rows(
    context: GenerationContext, text_field: str, n_rows: int, embeddings: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Rows to smoke-run candidates on: sample rows (else labeled rows), with ``minilm`` added."""
    if context.sample_rows:
        rows = [dict(r) for r in context.sample_rows[:n_rows]]
        vectors = None if embeddings is None else embeddings["sample"][:n_rows]
    elif context.labeled_rows:
        rows = [dict(r) for r, _ in context.labeled_rows[:n_rows]]
        vectors = None if embeddings is None else embeddings["labeled"][:n_rows]
    else:
        rows = [{f: None for f in context.spec.input_fields}]
        rows.extend({**rows[0], text_field: t} for texts in _spec_class_texts(context.spec) for t in texts)
        rows = rows[:n_rows]
        vectors = None
    if embeddings is not None:
        dim = embeddings["labeled"].shape[1] if len(embeddings["labeled"]) else 384
        for i, row in enumerate(rows):
            vector = vectors[i] if vectors is not None and i < len(vectors) else np.zeros(dim)
            row["minilm"] = tuple(float(v) for v in vector)
    return rows


def _drop_duplicates(candidates: list[_Candidate]) -> tuple[list[_Candidate], int]:
    """Drop candidates that vote exactly like an earlier one on every labeled and sample row."""
    seen: set[bytes] = set()
    kept, n_duplicates = [], 0
    for candidate in candidates:
        votes = np.concatenate([candidate.votes_labeled, candidate.votes_sample])
        if votes.size and (votes == ABSTAIN).all():
            kept.append(candidate)  # the cue may simply be absent from the rows at hand
            continue
        key = votes.astype(np.int8).tobytes() if votes.size else candidate.source.encode()
        if key in seen:
            n_duplicates += 1
            continue
        seen.add(key)
        kept.append(candidate)
    return kept, n_duplicates


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _slug(name: str, index: int, limit: int = 24) -> str:
    """A class name as lower_case ASCII for program names (``class<index>`` when nothing is left)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:limit].strip("_")
    return slug or f"class{index}"


def _constant(name: str, index: int) -> str:
    """A class name as an UPPER_CASE Python constant name."""
    slug = _slug(name, index, limit=40).upper()
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


def _behaviour_note(candidate: _Candidate, labels: np.ndarray) -> str:
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


def _render_keywords(spec: TaskSpec, c: int, terms: list[_Term], why: str, behaviour: str, *, counted: bool) -> str:
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
        f"    text = x.get({_literal(_text_field(spec))})",
        "    if not isinstance(text, str):",
        "        return ABSTAIN",
        "    if PATTERN.search(text):",
        f"        return {constant}",
        "    return ABSTAIN",
        "",
    ]
    return "\n".join(lines)


def _render_patterns(spec: TaskSpec, c: int, terms: list[_Term], why: str, behaviour: str) -> str:
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
        f"    text = x.get({_literal(_text_field(spec))})",
        "    if not isinstance(text, str):",
        "        return ABSTAIN",
        "    for meaning, pattern in PATTERNS:",
        "        if pattern.search(text):",
        f"            return {constant}",
        "    return ABSTAIN",
        "",
    ]
    return "\n".join(lines)


def _render_prototypes(
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
