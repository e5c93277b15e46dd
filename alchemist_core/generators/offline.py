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
:func:`alchemist_core.programs.apply.validate_program` on sample rows; invalid ones are reported in
``GenerationResult.rejected`` with the reason.

The program contract
--------------------
A program is a module defining ``def label(x)``. ``x`` is a read-only mapping of the task's
input fields (e.g. ``x["text"]``; a value may be ``None``); ``label`` returns a class index
``0..k-1`` or ``-1`` (ABSTAIN). Programs may import only ``re``, ``math``, ``string``,
``collections``, ``itertools``, ``functools``, ``statistics`` and ``unicodedata``, and may not
use dunder names, ``getattr``, ``eval``, ``exec``, ``open``, ``type``, ``hash``, classes,
``with``, ``global``/``nonlocal`` or a bare ``except`` (see :mod:`alchemist_core.programs.policy`).

Precomputed features: a program may declare a module-level ``FEATURES = ("minilm",)``. The
pipeline then computes, for every row, the L2-normalised all-MiniLM-L6-v2 embedding of the
row's text and passes it as ``x["minilm"]``, a sequence of 384 floats. The embedding is only
computed when at least one program of the set declares it.

The parts live in their own modules: the mining of words, phrases and patterns with its
cross-validation in :mod:`alchemist_core.generators.offline_mining`, the embedding-prototype
programs in :mod:`alchemist_core.generators.offline_prototypes`, the rules and text shapes in
:mod:`alchemist_core.generators.offline_terms` and the programs' source text in
:mod:`alchemist_core.generators.offline_render`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from alchemist_core.generators.base import (
    GenerationContext,
    GenerationResult,
    RejectedProgram,
)
from alchemist_core.generators.offline_mining import Miner
from alchemist_core.generators.offline_prototypes import PrototypeBuilder
from alchemist_core.generators.offline_render import (
    Candidate,
    class_slug,
    text_field_of,
)
from alchemist_core.programs.program_set import ABSTAIN, LabelingProgram, ProgramSet
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)

Encoder = Callable[[Sequence[str]], np.ndarray]


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
        :func:`alchemist_core.students.features.encode_texts` (MiniLM). The generated programs assume
        the pipeline's ``x["minilm"]`` comes from the same encoder.
    validation_rows : int
        Sample rows each candidate is smoke-run on by :func:`alchemist_core.programs.apply.validate_program`.
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
        text_field = text_field_of(spec)
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

        candidates: list[Candidate] = []
        embeddings, verifier = None, None
        if self.use_embeddings:
            embeddings = self._embed(labeled_texts, sample_texts, spec)
            prototypes = PrototypeBuilder(
                spec, labels, embeddings, labeled_texts, sample_texts, context.seed,
                prototype_precision=self.prototype_precision,
            )  # fmt: skip
            candidates.extend(prototypes.candidates())
            details["prototypes"] = prototypes.summary
            verifier = prototypes.verifier
        miner = Miner(
            spec, labeled_texts, labels, sample_texts, verifier, min_precision=self.min_precision, min_lift=self.min_lift,
            min_support=self.min_support, max_coverage=self.max_coverage, max_terms=self.max_terms, seed=context.seed,
        )  # fmt: skip
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
            fitted_to_labeled_rows=bool(context.labeled_rows),
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
            from alchemist_core.students.features import encode_texts

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

    def _program(self, number: int, candidate: Candidate, spec: TaskSpec) -> LabelingProgram:
        c = candidate.class_index
        target = "multiclass" if c is None else class_slug(spec.class_names[c], c)
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
        from alchemist_core.programs.apply import validate_program

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


# -- helpers ---------------------------------------------------------------------------------
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


def _drop_duplicates(candidates: list[Candidate]) -> tuple[list[Candidate], int]:
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
