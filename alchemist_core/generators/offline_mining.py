"""Mining of the offline generator's keyword and regex programs.

:class:`Miner` turns the task spec (its keywords, the terms quoted in its rules, the
distinctive words of each class's name and description) and a small labeled set into keyword
and regex candidates: words, word bigrams, opening words and text shapes whose
Laplace-smoothed precision for one class clears a threshold, grouped per class into a
high-precision group, a broader group and a regex group. Each group is checked by repeating
the mining on stratified folds of the labeled rows
(:func:`alchemist_core.sampling.stratified_folds`) and scoring it on the fold left out; terms
that fire on almost every unlabeled sample row are dropped, and
:class:`Verifier` uses a second view of the sample rows (the embedding classifier's
predictions) to estimate a term's precision there and refute the ones that look precise on
the few labeled rows only by chance.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from alchemist_core.generators.offline_render import (
    Candidate,
    behaviour_note,
    render_keywords,
    render_patterns,
)
from alchemist_core.generators.offline_terms import SHAPE_REGEX, Term, phrase_regex
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.sampling import stratified_folds
from alchemist_core.spec import TaskSpec

_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r"\"([^\"]{1,60})\"|“([^”]{1,60})”|'([^']{1,60})'|«([^»]{1,60})»")

_MAX_PREFIX_WORDS = 3
CV_FOLDS = 5
_GROUPS = ("strong", "broad", "patterns")


@dataclass(frozen=True)
class Verifier:
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


class Miner:
    """Keyword and regex candidates from the spec and from the labeled rows."""

    def __init__(
        self,
        spec: TaskSpec,
        labeled_texts: list[str],
        labels: np.ndarray,
        sample_texts: list[str],
        verifier: Verifier | None,
        *,
        min_precision: float,
        min_lift: float,
        min_support: int,
        max_coverage: float,
        max_terms: int,
        seed: int = 0,
    ):
        self.min_support = min_support
        self.max_coverage = max_coverage
        self.max_terms = max_terms
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
        self.thresholds = np.maximum(min_precision, prior + min_lift * (1 - prior))
        self.strong = self.thresholds + (1 - self.thresholds) / 2
        self.summary: dict[str, Any] = {}

    # spec ---------------------------------------------------------------------------------
    def spec_candidates(self) -> list[Candidate]:
        spec, out = self.spec, []
        keywords = _spec_keywords(spec)
        described = _description_words(spec, self.sample_features)
        for c, class_name in enumerate(spec.class_names):
            given = [k for k in keywords[c] if self._acceptable_given(k, c, bar=0.5, must_be_seen=False)]
            if given:
                terms = [self._counted(Term("keyword", k), c) for k in given]
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
                terms = [self._counted(Term("keyword", w), c) for w in words]
                why = (
                    f"Its terms are the words of the class name and description of {class_name} in the task spec "
                    "that no other class's name or description uses."
                )
                out.append(self._keyword_candidate(c, terms, "description_words", 60, why))
        return out

    def _acceptable_given(self, keyword: str, c: int, *, bar: float, must_be_seen: bool) -> bool:
        # A term from the spec is kept unless the data show its precision is below ``bar``: the
        # user (or a first-stage LLM) may know things a few labeled rows do not show.
        term = Term("keyword", keyword)
        if len(self.labels):
            hits = self._hits(term, self.labeled_texts)
            n_rows = int(hits.sum())
            n_class = int((self.labels[hits] == c).sum())
            if must_be_seen and 2 * n_class <= n_rows:  # unseen, or wrong at least half the time
                return False
            if n_rows >= self.min_support and (n_class + 1) / (n_rows + 2) < bar:
                return False
        if self.verifier is not None:
            return not self.verifier.refutes(np.flatnonzero(self._hits(term, self.sample_texts)), c, bar)
        return True

    # labeled rows -------------------------------------------------------------------------
    def mined_candidates(self) -> list[Candidate]:
        if not len(self.labels):
            return []
        groups, n_refuted = self._term_groups(np.ones(len(self.labels), dtype=bool))
        checked = self._cross_validated(groups)
        out: list[Candidate] = []
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
                for chunk_index, chunk in enumerate(_chunks(strong, self.max_terms)):
                    kind = "strong_words" if chunk_index == 0 else f"strong_words{chunk_index + 1}"
                    note = why + self._cv_note(checked[c]["strong"][1]) + f" High-precision group: at least {self.strong[c]:.2f}."
                    out.append(self._keyword_candidate(c, chunk, kind, 20 + chunk_index, note))
            if "patterns" not in dropped:
                for chunk_index, chunk in enumerate(_chunks(patterns, self.max_terms)):
                    kind = "patterns" if chunk_index == 0 else f"patterns{chunk_index + 1}"
                    note = why + self._cv_note(checked[c]["patterns"][1])
                    out.append(self._pattern_candidate(c, chunk, kind, 30 + chunk_index, note))
            if broad and "broad" not in dropped:
                # Only the best-ranked broad terms: further down the ranking they get noisy.
                note = (
                    why + self._cv_note(checked[c]["broad"][1])
                    + f" Broader group: below {self.strong[c]:.2f}; the {self.max_terms} best-ranked at most."
                )
                out.append(self._keyword_candidate(c, broad[: self.max_terms], "words", 50, note))
        return out

    def _term_groups(self, mask: np.ndarray) -> tuple[list[dict[str, list[Term]]], np.ndarray]:
        """Per class, the mined ``strong``, ``broad`` and ``patterns`` terms of the labeled rows in ``mask``."""
        n_sample = len(self.sample_texts)
        n_labeled = int(mask.sum())
        n_refuted = np.zeros(self.n_classes, dtype=np.int64)
        by_class: dict[int, list[tuple[float, Term]]] = defaultdict(list)
        for key in sorted(self.labeled_rows_of):
            rows = self.labeled_rows_of[key]
            if len(rows) < self.min_support:
                continue
            rows = rows[mask[rows]]
            if len(rows) < self.min_support:
                continue
            per_class = np.bincount(self.labels[rows], minlength=self.n_classes)
            c = int(per_class.argmax())
            precision = (per_class[c] + 1) / (len(rows) + 2)
            if precision < self.thresholds[c]:
                continue
            sample_rows = self.sample_rows_of.get(key, ())
            coverage = len(sample_rows) / n_sample if n_sample else len(rows) / n_labeled
            if coverage > self.max_coverage:
                continue
            if self.verifier is not None:
                estimate = self.verifier.precision(sample_rows, c)
                if estimate is not None:
                    if estimate < self.thresholds[c]:
                        n_refuted[c] += 1
                        continue
                    precision = min(precision, estimate)
            by_class[c].append((precision, Term(key[0], key[1], int(per_class[c]), len(rows))))

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
                    "broad": [t for t in terms if precision_of[(t.kind, t.value)] < self.strong[c]][: self.max_terms],
                    "patterns": patterns,
                }
            )
        return groups, n_refuted

    def _cross_validated(self, groups: list[dict[str, list[Term]]]) -> list[dict[str, tuple[bool, float | None]]]:
        """Per class and group: (keep it?, held-out precision), from mining repeated on folds.

        Words that happen to occur only in one class's rows of a small labeled set look
        precise in the rows they were mined from and nowhere else. So the mining is repeated
        :data:`CV_FOLDS` times, each time without one fold of the labeled rows, and each group
        the repetition mines votes on the fold left out. A group whose held-out votes are
        (Laplace-smoothed) below the class's bar is dropped from the full mining too.
        """
        n_rows = len(self.labels)
        folds = stratified_folds(self.labels, CV_FOLDS, seed=self.seed, carry_over=False)
        correct = np.zeros((self.n_classes, len(_GROUPS)))
        votes = np.zeros((self.n_classes, len(_GROUPS)))
        for k in range(CV_FOLDS):
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
                keep = votes[c, g] < self.min_support or precision >= self.thresholds[c]
                checked[name] = (bool(keep), round(precision, 4))
            out.append(checked)
        return out

    @staticmethod
    def _cv_note(precision: float | None) -> str:
        if precision is None:
            return ""
        return (
            f" Mined again without each of {CV_FOLDS} folds of the labeled rows, the group's votes on the "
            f"left-out rows were right {precision:.0%} of the time (Laplace-smoothed)."
        )

    def _mining_note(self, c: int) -> str:
        note = (
            f"Mined from {len(self.labels)} labeled rows: each term occurs in at least {self.min_support} of "
            f"them, at least {self.thresholds[c]:.2f} of those rows (Laplace-smoothed) have class "
            f"{self.spec.class_names[c]}, and it fires on at most {self.max_coverage:.0%} of the "
            + ("unlabeled sample rows." if self.sample_texts else "labeled rows.")
        )
        if self.verifier is not None and self.verifier.calibrated:
            note += (
                f" Where a term fires on at least {self.verifier.min_rows} sample rows, its precision there, "
                "estimated from the MiniLM nearest-prototype classifier's predictions corrected for that "
                "classifier's cross-validated error rates, clears the same bar."
            )
        return note

    def _novel(self, ranked: list[Term], mask: np.ndarray) -> list[Term]:
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
    def _counted(self, term: Term, c: int) -> Term:
        if not len(self.labels):
            return term
        hits = self._hits(term, self.labeled_texts)
        return Term(term.kind, term.value, int((self.labels[hits] == c).sum()), int(hits.sum()))

    @staticmethod
    def _hits(term: Term, texts: list[str]) -> np.ndarray:
        pattern = re.compile(term.regex)
        return np.fromiter((bool(pattern.search(t)) for t in texts), bool, len(texts))

    def _keyword_candidate(self, c: int, terms: list[Term], kind: str, priority: int, why: str) -> Candidate:
        combined = re.compile(r"(?<!\w)(?:" + "|".join(phrase_regex(t.value) for t in terms) + r")(?!\w)", re.I)
        candidate = Candidate(kind, priority, c)
        self._estimate(candidate, lambda text: bool(combined.search(text)), c)
        behaviour = behaviour_note(candidate, self.labels)
        candidate.source = render_keywords(self.spec, c, terms, why, behaviour, counted=bool(len(self.labels)))
        candidate.origin = {"method": kind, "n_terms": len(terms), "n_labeled_rows": len(self.labels)}
        return candidate

    def _pattern_candidate(self, c: int, terms: list[Term], kind: str, priority: int, why: str) -> Candidate:
        compiled = [re.compile(t.regex) for t in terms]
        candidate = Candidate(kind, priority, c)
        self._estimate(candidate, lambda text: any(p.search(text) for p in compiled), c)
        candidate.source = render_patterns(self.spec, c, terms, why, behaviour_note(candidate, self.labels))
        candidate.origin = {"method": kind, "n_terms": len(terms), "n_labeled_rows": len(self.labels)}
        return candidate

    def _estimate(self, candidate: Candidate, fires: Callable[[str], bool], c: int) -> None:
        candidate.votes_labeled = np.array([c if fires(t) else ABSTAIN for t in self.labeled_texts], dtype=np.int64)
        candidate.votes_sample = np.array([c if fires(t) else ABSTAIN for t in self.sample_texts], dtype=np.int64)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _row_features(text: str) -> set[tuple[str, str]]:
    tokens = _tokens(text)
    # Long digit runs are phone numbers and ids: unique to a row, the "long_number" shape covers them.
    words = [t for t in tokens if not (t.isdigit() and len(t) > 4)]
    features = {("word", w) for w in words}
    features.update(("phrase", f"{a} {b}") for a, b in zip(tokens, tokens[1:]))
    features.update(("prefix", " ".join(tokens[:k])) for k in range(1, min(_MAX_PREFIX_WORDS, len(tokens)) + 1))
    features.update(("shape", key) for key, regex in SHAPE_REGEX.items() if regex.search(text))
    return features


def _inverted(row_features: list[set[tuple[str, str]]]) -> dict[tuple[str, str], list[int]]:
    rows_of: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, features in enumerate(row_features):
        for key in features:
            rows_of[key].append(i)
    return rows_of


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


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
