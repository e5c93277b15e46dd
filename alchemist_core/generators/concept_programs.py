"""Programs over concept scores: labeling images without reading their pixels.

A concept program has the usual contract, ``label(x) -> int`` in the sandbox, but ``x`` maps
score names to floats: ``x["wing_shape:waterbird"]`` is how much better the image matches the
waterbird description of the wing shape than the other classes' descriptions (a softmax
share in ``[0, 1]``, see :mod:`alchemist_core.images.clip`).

Two generators write them:

* :class:`ConceptThresholdGenerator` (``concept_offline``), no LLM: for each concept, and for
  the mean of the best concepts, a program that votes the class with the highest score when
  it leads the runner-up by a margin. The margins are chosen per class on a small labeled
  set (``context.labeled_rows``, the valid split) to maximise the net correct votes (correct
  minus wrong, a wrong vote counting ``1 / (n_classes - 1)``); a class whose votes are not
  clearly better than chance is never voted, and a concept without such a class gives no
  program.
  Without labeled rows every margin is :data:`DEFAULT_MARGIN`.
* :class:`ConceptLLMGenerator` (``concept_openai``): the LLM writes them from the prompt of
  :func:`alchemist_core.generators.prompts.concept_program_messages`, through an
  :class:`~alchemist_core.llm.LLMClient` (cached, in the ledger); each reply is smoke-run on
  sample rows, sent back with the error when it fails (a bounded repair loop), and
  duplicates (same source or same votes) are dropped.
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from alchemist_core.errors import InputError
from alchemist_core.generators.base import (
    GenerationContext,
    GenerationResult,
    RejectedProgram,
)
from alchemist_core.images.concepts import ConceptSet
from alchemist_core.programs.apply import validate_program
from alchemist_core.programs.program_set import ABSTAIN, LabelingProgram, ProgramSet
from alchemist_core.programs.sandbox import SandboxLimits

if TYPE_CHECKING:
    from alchemist_core.generators.repair import LLMCandidate

logger = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.2
"""The lead a class needs when no labeled rows exist (a 0.6 / 0.4 split for two classes)."""
NEVER = 2.0
"""A margin no lead reaches (leads are at most 1): the class is never voted."""
MIN_VOTES = 3
MIN_Z = 2.0
"""How many standard deviations above chance a class's correct votes must be for it to be voted."""
_QUANTILES = np.linspace(0.0, 0.9, 10)


def score_matrix(rows: Sequence[Mapping[str, Any]], concept_set: ConceptSet) -> np.ndarray:
    """Rows of concept scores as ``(n_rows, n_concepts, n_classes)``, NaN where a score is missing.

    Examples
    --------
    >>> from alchemist_core.images.concepts import parse_concepts
    >>> concepts = parse_concepts({"concepts": {"shape": {"a": "round", "b": "square"}}}, ["a", "b"])
    >>> score_matrix([{"shape:a": 0.7, "shape:b": 0.3}], concepts).tolist()
    [[[0.7, 0.3]]]
    """
    names = concept_set.score_names
    values = np.full((len(rows), len(names)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            value = row.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[i, j] = float(value)
    return values.reshape(len(rows), len(concept_set.concepts), concept_set.n_classes)


def margin_votes(class_scores: np.ndarray, margins: Sequence[float]) -> np.ndarray:
    """Votes of a margin program: the best class where it leads the runner-up by its margin.

    Parameters
    ----------
    class_scores : array, shape (n_rows, n_classes)
    margins : sequence of float, one per class

    Returns
    -------
    numpy.ndarray of int64, ``ABSTAIN`` where no class leads enough or a score is missing.
    """
    class_scores = np.asarray(class_scores, dtype=np.float64)
    votes = np.full(len(class_scores), ABSTAIN, dtype=np.int64)
    complete = ~np.isnan(class_scores).any(axis=1)
    if not complete.any():
        return votes
    scores = class_scores[complete]
    best = scores.argmax(axis=1)
    ordered = np.sort(scores, axis=1)
    lead = ordered[:, -1] - ordered[:, -2]
    chosen = np.where(lead >= np.asarray(margins)[best], best, ABSTAIN)
    votes[complete] = chosen
    return votes


@dataclass(frozen=True)
class _Fit:
    margins: tuple[float, ...]
    gain: float  # net correct votes per labeled row
    coverage: float | None = None  # on the labeled rows
    accuracy: float | None = None


def fit_margins(class_scores: np.ndarray, y: np.ndarray) -> _Fit:
    """Per-class margins that maximise the net correct votes on labeled rows.

    A class's margin is chosen among quantiles of the leads of the rows where it is the best
    class; it must give at least :data:`MIN_VOTES` votes whose correct count beats chance
    (``1 / n_classes``) by :data:`MIN_Z` binomial standard deviations, or the class gets
    :data:`NEVER`. The test keeps a concept that is noise from passing on a lucky few rows.
    """
    class_scores = np.asarray(class_scores, dtype=np.float64)
    y = np.asarray(y)
    n_rows, n_classes = class_scores.shape
    complete = ~np.isnan(class_scores).any(axis=1)
    scores, labels = class_scores[complete], y[complete]
    best = scores.argmax(axis=1) if len(scores) else np.zeros(0, dtype=np.int64)
    ordered = np.sort(scores, axis=1)
    lead = ordered[:, -1] - ordered[:, -2] if len(scores) else np.zeros(0)
    wrong_weight = 1.0 / (n_classes - 1)
    margins, total_gain = [], 0.0
    for k in range(n_classes):
        leads = lead[best == k]
        chosen, chosen_gain = NEVER, 0.0
        # Floored to the 4 decimals a program shows, so the rendered margin keeps every row the fit counted.
        candidates = sorted(set((np.floor(np.quantile(leads, _QUANTILES) * 1e4) / 1e4).tolist())) if len(leads) else []
        for threshold in candidates:
            voted = (best == k) & (lead >= threshold)
            n_voted = int(voted.sum())
            n_correct = int((labels[voted] == k).sum())
            gain = n_correct - (n_voted - n_correct) * wrong_weight
            chance = 1.0 / n_classes
            significant = n_correct - n_voted * chance >= MIN_Z * np.sqrt(n_voted * chance * (1 - chance))
            if n_voted >= MIN_VOTES and significant and gain > chosen_gain:
                chosen, chosen_gain = float(threshold), gain
        margins.append(chosen)
        total_gain += chosen_gain
    votes = margin_votes(class_scores, margins)
    voted = votes != ABSTAIN
    accuracy = float((votes[voted] == y[voted]).mean()) if voted.any() else None
    return _Fit(tuple(margins), total_gain / max(n_rows, 1), float(voted.mean()) if n_rows else 0.0, accuracy)


@dataclass
class _Candidate:
    name: str
    title: str  # "concept 'corners'" or "the mean of 3 concepts"
    concepts: tuple[int, ...]  # concept indices averaged
    fit: _Fit
    source: str = ""
    origin: dict[str, Any] = field(default_factory=dict)


class ConceptThresholdGenerator:
    """Margin programs over concept scores, fitted on a small labeled set (no LLM).

    Parameters
    ----------
    concept_set : ConceptSet
        The concepts whose scores the programs read.
    mean_sizes : sequence of int
        Also write programs over the mean scores of the best ``m`` concepts, for each ``m``
        (``0`` means all concepts).
    limits : SandboxLimits
        Limits of the smoke run on the sample rows.

    Examples
    --------
    >>> from alchemist_core.images.concepts import parse_concepts
    >>> from alchemist_core.spec import parse_spec
    >>> spec = parse_spec({"name": "s", "instruction": "Circle or square?", "classes": [{"name": "a"}, {"name": "b"}]})
    >>> concepts = parse_concepts({"concepts": {"corners": {"a": "none", "b": "four"}}}, ["a", "b"])
    >>> rows = [({"corners:a": p, "corners:b": 1 - p}, int(p < 0.5)) for p in (0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1, 0.05)]
    >>> context = GenerationContext(spec, sample_rows=[r for r, _ in rows], labeled_rows=rows, n_programs=1)
    >>> ConceptThresholdGenerator(concepts).generate(context).program_set.names
    ['concept_corners']
    """

    name = "concept_offline"

    def __init__(self, concept_set: ConceptSet, *, mean_sizes: Sequence[int] = (0, 3), limits: SandboxLimits = SandboxLimits()):
        self.concept_set = concept_set
        self.mean_sizes = tuple(mean_sizes)
        self.limits = limits

    def generate(self, context: GenerationContext) -> GenerationResult:
        """Fit, render and smoke-run the programs; keep the ``context.n_programs`` best.

        Raises
        ------
        InputError
            When the spec's classes are not the concept set's.
        """
        concept_set = self.concept_set
        if tuple(context.spec.class_names) != concept_set.class_names:
            raise InputError(
                f"the concepts describe classes {list(concept_set.class_names)}, but the task's classes are "
                f"{context.spec.class_names}"
            )
        labeled = [row for row, _ in context.labeled_rows]
        y = np.asarray([label for _, label in context.labeled_rows], dtype=np.int64)
        S = score_matrix(labeled, concept_set)  # (n_labeled, n_concepts, n_classes)
        candidates = self._candidates(S, y)
        sample = list(context.sample_rows) or labeled
        accepted: list[LabelingProgram] = []
        rejected: list[RejectedProgram] = []
        seen_votes: set[bytes] = set()
        n_duplicates = 0
        for candidate in candidates:
            if len(accepted) >= context.n_programs:
                break
            candidate.source = self._render(candidate, len(y), context)
            program = LabelingProgram(candidate.name, candidate.source, candidate.origin)
            report = validate_program(program, sample, concept_set.n_classes, limits=self.limits)
            if not report.ok:
                rejected.append(RejectedProgram(candidate.name, report.reason or "failed validation", candidate.source))
                continue
            key = report.votes.tobytes() + margin_votes(S[:, list(candidate.concepts)].mean(axis=1), candidate.fit.margins).tobytes()
            if key in seen_votes:
                n_duplicates += 1
                continue
            seen_votes.add(key)
            accepted.append(program)
        logger.info(
            "concept_offline: %d programs from %d candidates (%d labeled rows, %d rejected, %d duplicates)",
            len(accepted), len(candidates), len(y), len(rejected), n_duplicates,
        )  # fmt: skip
        return GenerationResult(
            program_set=ProgramSet(tuple(accepted)),
            rejected=tuple(rejected),
            n_duplicates=n_duplicates,
            details={"n_candidates": len(candidates), "n_labeled_rows": int(len(y)), "concepts": concept_set.digest},
            fitted_to_labeled_rows=len(y) > 0,
        )

    def _candidates(self, S: np.ndarray, y: np.ndarray) -> list[_Candidate]:
        concepts = self.concept_set.concepts
        n_classes = self.concept_set.n_classes
        if len(y) == 0:
            # Nothing to fit on: generic margins, the mean of all concepts first.
            generic = _Fit((DEFAULT_MARGIN,) * n_classes, 0.0)
            everything = tuple(range(len(concepts)))
            candidates = [_Candidate("concept_mean_all", f"the mean of all {len(concepts)} concepts", everything, generic)]
            candidates += [_Candidate(f"concept_{c.key}"[:80], f"concept {c.name!r}", (i,), generic) for i, c in enumerate(concepts)]
            return candidates if len(concepts) > 1 else candidates[1:]
        singles = [
            _Candidate(f"concept_{c.key}"[:80], f"concept {c.name!r}", (i,), fit_margins(S[:, i, :], y))
            for i, c in enumerate(concepts)
        ]
        singles = [s for s in singles if s.fit.gain > 0]
        ranked = sorted(singles, key=lambda s: -s.fit.gain)
        means = []
        for size in self.mean_sizes:
            chosen = tuple(sorted(s.concepts[0] for s in (ranked if size == 0 else ranked[:size])))
            if len(chosen) < 2 or any(m.concepts == chosen for m in means):
                continue
            fit = fit_margins(S[:, list(chosen), :].mean(axis=1), y)
            title = f"the mean of {'all ' if size == 0 else 'the best '}{len(chosen)} concepts"
            name = "concept_mean_all" if size == 0 else f"concept_mean_top{len(chosen)}"
            if fit.gain > 0:
                means.append(_Candidate(name, title, chosen, fit))
        return sorted(means + singles, key=lambda c: -c.fit.gain)

    def _render(self, candidate: _Candidate, n_labeled: int, context: GenerationContext) -> str:
        concept_set = self.concept_set
        fit = candidate.fit
        if n_labeled:
            evidence = (
                f"Margins were chosen on {n_labeled} labeled rows, where it voted on {fit.coverage:.0%} of them"
                + (f" with {fit.accuracy:.0%} accuracy." if fit.accuracy is not None else ".")
            )
        else:
            evidence = f"No labeled rows were given, so every class needs the generic lead {DEFAULT_MARGIN}."
        names = [concept_set.concepts[i].name for i in candidate.concepts]
        summary = f"{candidate.title[0].upper()}{candidate.title[1:]}: the best-matching class, when it leads by a margin."
        body = (
            "Written by Alchemist's offline concept generator (no LLM). Averages, per class, the CLIP concept "
            f"scores of {', '.join(_plain(n) for n in names)}, and votes the class with the highest mean when it "
            f"leads the runner-up by at least that class's margin; otherwise abstains. {evidence}"
        )
        docstring = '"""' + summary + "\n\n" + textwrap.fill(body, width=92, break_long_words=False) + '\n"""\n'
        lines = [docstring, "ABSTAIN = -1", "", "# Per concept, the score name of each class, in class order.", "SCORES = ("]
        for i in candidate.concepts:
            concept = concept_set.concepts[i]
            names_of = ", ".join(repr(f"{concept.key}:{class_name}") for class_name in concept_set.class_names)
            lines.append(f"    ({names_of}),")
        lines += [")", f"# The lead a class needs over the runner-up; {NEVER} = never voted.", "MARGINS = ("]
        for k, class_name in enumerate(concept_set.class_names):
            lines.append(f"    {fit.margins[k]:.4f},  # {k} {_plain(class_name)}")
        lines += [")", "", ""]
        lines += [
            "def label(x):",
            "    totals = [0.0] * len(MARGINS)",
            "    for names in SCORES:",
            "        for index, name in enumerate(names):",
            "            value = x.get(name)",
            "            if value is None:",
            "                return ABSTAIN",
            "            totals[index] += value / len(SCORES)",
            "    best = max(range(len(totals)), key=lambda index: totals[index])",
            "    runner_up = max(value for index, value in enumerate(totals) if index != best)",
            "    if totals[best] - runner_up >= MARGINS[best]:",
            "        return best",
            "    return ABSTAIN",
        ]
        candidate.origin = {
            "generator": self.name,
            "concepts": names,
            "concept_set": concept_set.digest,
            "margins": list(fit.margins),
            "n_labeled": n_labeled,
            "labeled_coverage": fit.coverage,
            "labeled_accuracy": fit.accuracy,
        }
        return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """``text`` safe inside a docstring or comment: one line, no quotes or backslashes."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return " ".join(cleaned.replace("\\", "/").replace('"', "'").split())[:80]


# -- the LLM writes them ---------------------------------------------------------------------


class ConceptLLMGenerator:
    """Concept programs written by an LLM through any OpenAI-compatible endpoint.

    Parameters
    ----------
    client : LLMClient
        Carries the endpoint, response cache, ledger and prices.
    concept_set : ConceptSet
    model : str, optional
        The endpoint's model when ``None``.
    max_repairs : int
        Repair turns per candidate before it is rejected.
    limits : SandboxLimits
        Limits of the smoke run.
    refresh : bool
        Ignore cached replies.
    temperatures : sequence of float
        Alternated over candidates.
    """

    name = "concept_openai"

    def __init__(
        self,
        client: Any,
        concept_set: ConceptSet,
        *,
        model: str | None = None,
        max_repairs: int = 2,
        limits: SandboxLimits = SandboxLimits(),
        refresh: bool = False,
        temperatures: Sequence[float] = (0.7, 1.0),
    ):
        if max_repairs < 0:
            raise InputError(f"max_repairs must be >= 0, got {max_repairs}")
        if not temperatures:
            raise InputError("temperatures must hold at least one value")
        self.client = client
        self.concept_set = concept_set
        self.model = model or client.endpoint.model
        self.max_repairs = max_repairs
        self.limits = limits
        self.refresh = refresh
        self.temperatures = tuple(float(t) for t in temperatures)

    def generate(self, context: GenerationContext) -> GenerationResult:
        """Ask for ``context.n_programs`` programs; validate, repair and deduplicate them.

        Raises
        ------
        LLMError
            When every candidate failed because of the endpoint.
        """
        from alchemist_core.generators.prompts import concept_program_messages
        from alchemist_core.generators.repair import LLMCandidate, request_programs

        if context.n_programs < 1:
            raise InputError(f"n_programs must be >= 1, got {context.n_programs}")
        if tuple(context.spec.class_names) != self.concept_set.class_names:
            raise InputError(
                f"the concepts describe classes {list(self.concept_set.class_names)}, but the task's classes are "
                f"{context.spec.class_names}"
            )
        sample = list(context.sample_rows) or [row for row, _ in context.labeled_rows]
        pending = []
        for index in range(context.n_programs):
            messages = concept_program_messages(context.spec, self.concept_set, variant=index)
            pending.append(LLMCandidate.ask(
                index, f"llm_concept_p{index:02d}", self.temperatures[index % len(self.temperatures)],
                context.seed + index, messages,
            ))  # fmt: skip
        outcome = request_programs(
            self.client,
            pending,
            model=self.model,
            rows=sample,
            n_classes=self.concept_set.n_classes,
            limits=self.limits,
            max_repairs=self.max_repairs,
            refresh=self.refresh,
            empty_votes_match=True,
        )
        rejected, n_duplicates, completions = outcome.rejected, outcome.n_duplicates, outcome.completions
        if not outcome.accepted and outcome.errors and len(outcome.errors) == context.n_programs:
            raise outcome.errors[0]
        programs = outcome.programs(self._origin)
        dollars = sum(c.dollars for c in completions)
        logger.info(
            "concept_openai: %d of %d candidates accepted, %d rejected, %d duplicates, $%.4f",
            len(programs), context.n_programs, len(rejected), n_duplicates, dollars,
        )  # fmt: skip
        return GenerationResult(
            program_set=ProgramSet(programs),
            rejected=tuple(sorted(rejected, key=lambda r: r.name)),
            n_duplicates=n_duplicates,
            details={
                "model": self.model,
                "concepts": self.concept_set.digest,
                "n_candidates": context.n_programs,
                "n_calls": len(completions),
                "n_api_calls": sum(not c.cached for c in completions),
                "dollars": dollars,
            },
        )

    def _origin(self, candidate: LLMCandidate) -> dict[str, Any]:
        from alchemist_core.generators.repair import candidate_origin

        return candidate_origin(candidate, generator=self.name, model=self.model, concept_set=self.concept_set.digest)
