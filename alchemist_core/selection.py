"""Out-of-fold choices on the labeled valid rows: the label model, the student, the final labels.

Every choice that uses the valid split's gold labels is made here, on scores of rows that did
not shape the candidate being scored:

1. The labeled valid rows are cut into K stratified folds (:func:`make_folds`).
2. For each fold, everything that learns from labeled rows is redone with the other folds as
   its labeled rows: the programs, when the generator mines them from labeled rows (each
   fold's votes arrive as a :class:`FoldVotes`), the curation's below-chance test, each label
   model's class balance (and, for ``weighted+valid``, its program accuracies), and every
   student, those trained on gold rows included.
3. Each candidate predicts the fold it never saw, and the out-of-fold predictions of all folds
   are scored together.

The label model is chosen first (:func:`cross_fit_label_models`). The final labels are then
chosen (:func:`cross_fit_students`, :func:`choose_final`) among the students fitted on its
pseudolabels, the supervised floor (students trained on the labeled rows alone), the label
model itself (its posterior where programs vote, the best student where none does) and the
blend of the two (their posteriors averaged where programs vote: the programs' evidence and
what the student learned from the text, each correcting the other). The caller refits the
winner on every labeled row.

No silent collapse: a candidate that puts more than :data:`COLLAPSE_SHARE` of the training
rows in one class, while the valid split has two or more classes above
:data:`MINOR_CLASS_SHARE`, is flagged, and unless the spec sets the metric it is only chosen if
it also wins on macro-F1 (:func:`pick`).

The winner's out-of-fold score comes with a 95% bootstrap interval (:func:`bootstrap_interval`).
Being the best of several, it is a little lucky on the rows that chose it; the run also reports
it corrected for the choice by bootstrap bias-corrected cross-validation
(:func:`corrected_for_choice`), a cautious figure, since the final labels come from a refit on
every labeled row, which tends to score a little higher than the fold models.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from alchemist_core.errors import InputError
from alchemist_core.report.metrics import classification_metrics
from alchemist_core.sampling import stratified_folds

logger = logging.getLogger(__name__)

DEFAULT_FOLDS = 5
MIN_LABELED_ROWS = 10
"""Fewer labeled valid rows than this give no basis for a choice: the defaults are used."""
COLLAPSE_SHARE = 0.9
MINOR_CLASS_SHARE = 0.1
AUTO_MACRO_F1_SHARE = 0.5
"""Without a metric in the spec, a multi-class valid split whose largest class holds more than
this share is judged by macro-F1: accuracy would reward predicting that class everywhere."""

LABEL_MODEL_CANDIDATES = ("majority", "weighted", "weighted+valid", "snorkel")
"""Label models tried, simplest first. Each takes its class balance from the labeled rows;
``weighted+valid`` also takes each program's accuracy from them instead of from agreement."""

VALID_SUFFIX = "+valid"
LABEL_MODEL_FINAL = "label_model"
"""Name of the final candidate that keeps the label model's labels (a student where no program votes)."""
BLEND_FINAL = "blend"
"""Name of the final candidate that averages the label model's posterior and the student's where programs vote
(the student alone elsewhere)."""
USES_LABEL_MODEL = (LABEL_MODEL_FINAL, BLEND_FINAL)


# ---------------------------------------------------------------------------------------------
# The metric


@dataclass(frozen=True)
class MetricChoice:
    """The metric every choice is made by, and why."""

    name: str  # "accuracy" | "macro_f1" | "binary_f1"
    reason: str
    explicit: bool  # set in the task spec


def resolve_metric(
    spec_metric: str | None, y_valid: Any, n_classes: int, class_names: Sequence[str] | None = None
) -> MetricChoice:
    """The spec's metric when it sets one; otherwise accuracy, or macro-F1 on a skewed multi-class split.

    Examples
    --------
    >>> resolve_metric(None, [0] * 7 + [1, 2, 2], 3).name
    'macro_f1'
    >>> resolve_metric(None, [0, 1, 1, 0], 2).name
    'accuracy'
    >>> resolve_metric("binary_f1", [0, 1], 2).explicit
    True
    """
    if spec_metric:
        return MetricChoice(spec_metric, f"{spec_metric}, set in the task spec", True)
    y = np.asarray(y_valid)
    y = y[y >= 0].astype(np.int64)
    if n_classes > 2 and len(y):
        shares = np.bincount(y, minlength=n_classes) / len(y)
        largest = int(shares.argmax())
        if shares[largest] > AUTO_MACRO_F1_SHARE:
            name = class_names[largest] if class_names else str(largest)
            return MetricChoice(
                "macro_f1",
                f"macro_f1: the spec sets no metric, and the largest of the {n_classes} classes ({name!r}) holds "
                f"{shares[largest]:.0%} of the labeled valid rows, so accuracy would reward predicting it everywhere",
                False,
            )
    return MetricChoice("accuracy", "accuracy: the spec sets no metric", False)


def class_shares(labels: Any, n_classes: int) -> np.ndarray:
    """Share of each class among ``labels`` (values ``< 0`` left out); zeros for no label."""
    labels = np.asarray(labels)
    labels = labels[labels >= 0].astype(np.int64)
    if not len(labels):
        return np.zeros(n_classes)
    return np.bincount(labels, minlength=n_classes)[:n_classes] / len(labels)


def is_collapsed(predicted_shares: Sequence[float], valid_shares: Sequence[float]) -> bool:
    """Whether predictions pile into one class where the labeled rows do not.

    True when one class takes more than :data:`COLLAPSE_SHARE` of the predictions while at
    least two classes hold more than :data:`MINOR_CLASS_SHARE` of the labeled valid rows.

    Examples
    --------
    >>> is_collapsed([0.97, 0.02, 0.01], [0.69, 0.2, 0.11])
    True
    >>> is_collapsed([0.95, 0.05], [0.93, 0.07])
    False
    """
    predicted = np.asarray(predicted_shares, dtype=float)
    valid = np.asarray(valid_shares, dtype=float)
    return bool(predicted.size and predicted.max() > COLLAPSE_SHARE and (valid > MINOR_CLASS_SHARE).sum() >= 2)


# ---------------------------------------------------------------------------------------------
# Folds and votes


@dataclass(frozen=True)
class ValidFolds:
    """A fold index for every labeled valid row (in the order of their labels)."""

    fold: np.ndarray  # (n_labeled,) int64 in 0..n_folds-1
    n_folds: int
    seed: int

    def held_out(self, k: int) -> np.ndarray:
        """Boolean mask of the rows of fold ``k``."""
        return self.fold == k

    def labeled(self, k: int) -> np.ndarray:
        """Boolean mask of the rows fold ``k``'s candidates may learn from."""
        return self.fold != k


def make_folds(y: Any, *, n_folds: int = DEFAULT_FOLDS, seed: int) -> ValidFolds:
    """Stratified folds of the labeled valid rows (every entry of ``y`` is a class index).

    Raises
    ------
    InputError
        With fewer than :data:`MIN_LABELED_ROWS` labeled rows, or an unknown label.

    Examples
    --------
    >>> folds = make_folds([0, 1] * 10, n_folds=5, seed=0)
    >>> np.bincount(folds.fold).tolist()
    [4, 4, 4, 4, 4]
    """
    y = np.asarray(y)
    if (y < 0).any():
        raise InputError("make_folds takes the labeled valid rows only; drop the rows whose gold label is -1 first")
    if len(y) < MIN_LABELED_ROWS:
        raise InputError(f"out-of-fold choices need at least {MIN_LABELED_ROWS} labeled valid rows, got {len(y)}")
    n_folds = int(min(n_folds, len(y) // 2))
    return ValidFolds(stratified_folds(y, n_folds, seed=seed), n_folds, seed)


@dataclass(frozen=True)
class FoldVotes:
    """Votes of the program set that one fold's candidates are built from.

    With a generator that does not learn from labeled rows, one program set serves every fold.
    With one that does (``offline``), fold ``k``'s programs are generated from the other
    folds' labeled rows only.
    """

    names: tuple[str, ...]
    L_train: np.ndarray  # (n_train, n_programs) votes on the training rows candidates are fitted on
    L_valid: np.ndarray  # (n_labeled, n_programs) votes on the labeled valid rows, in fold order
    digests: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.L_train.shape[1] != len(self.names) or self.L_valid.shape[1] != len(self.names):
            raise InputError(
                f"FoldVotes: {len(self.names)} program names, but the votes have {self.L_train.shape[1]} (train) "
                f"and {self.L_valid.shape[1]} (valid) columns"
            )


# ---------------------------------------------------------------------------------------------
# Candidates and the rule that picks one


@dataclass(frozen=True)
class CandidateScore:
    """A candidate's out-of-fold scores on the labeled valid rows and its class shares on train."""

    name: str
    role: str  # "label model", "student", "supervised", "final"
    accuracy: float
    macro_f1: float
    binary_f1: float | None
    train_shares: tuple[float, ...]
    collapsed: bool
    note: str = ""

    def score(self, metric: str) -> float:
        value = getattr(self, metric)
        return float("nan") if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "train_shares": list(self.train_shares)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CandidateScore":
        return cls(**{**data, "train_shares": tuple(data["train_shares"])})


def score_candidate(
    name: str, role: str, y: np.ndarray, pred: np.ndarray, train_shares: Sequence[float], valid_shares: np.ndarray,
    n_classes: int, note: str = "",
) -> CandidateScore:
    """Score out-of-fold predictions ``pred`` against ``y`` and flag a collapse."""
    metrics = classification_metrics(y, pred, n_classes)
    shares = tuple(float(v) for v in train_shares)
    return CandidateScore(
        name, role, float(metrics["accuracy"]), float(metrics["macro_f1"]),
        None if "binary_f1" not in metrics else float(metrics["binary_f1"]),
        shares, is_collapsed(shares, valid_shares), note,
    )


def pick(scores: Sequence[CandidateScore], metric: MetricChoice) -> tuple[CandidateScore, str, list[str]]:
    """The best candidate by ``metric`` (earlier wins ties), with the collapse guard.

    When the best candidate is collapsed and the spec does not set the metric, the one with the
    best macro-F1 wins instead (the metric breaks its ties). Returns the winner, the metric it
    won on and the warnings to report.
    """
    if not scores:
        raise InputError("pick needs at least one candidate score")
    order = {id(s): i for i, s in enumerate(scores)}

    def by(name: str) -> Callable[[CandidateScore], tuple[float, float, int]]:
        def key(s: CandidateScore) -> tuple[float, float, int]:
            primary = s.score(name)
            secondary = s.score(metric.name)
            return (-np.nan_to_num(primary, nan=-1.0), -np.nan_to_num(secondary, nan=-1.0), order[id(s)])

        return key

    best = min(scores, key=by(metric.name))
    warnings: list[str] = []
    chosen_by = metric.name
    if best.collapsed:
        share = max(best.train_shares)
        message = (
            f"{best.name} puts {share:.0%} of the training rows in one class while the labeled valid rows "
            f"have two or more classes above {MINOR_CLASS_SHARE:.0%}"
        )
        if metric.explicit or metric.name == "macro_f1":
            warnings.append(message + f"; kept, because the spec chooses by {metric.name}")
        else:
            alternative = min(scores, key=by("macro_f1"))
            chosen_by = "macro_f1"
            if alternative is best:
                warnings.append(message + "; kept, because it also has the best macro-F1")
            else:
                warnings.append(
                    message + f": not chosen on {metric.name} alone; {alternative.name} has the best macro-F1 "
                    f"({alternative.macro_f1:.3f} against {best.macro_f1:.3f}) and is chosen"
                )
                best = alternative
    return best, chosen_by, warnings


# ---------------------------------------------------------------------------------------------
# Label models, out of fold


@dataclass
class LabelModelCrossFit:
    """The label models' out-of-fold scores and, for the chosen one, what the students need."""

    scores: list[CandidateScore]
    chosen: str
    chosen_by: str
    warnings: list[str]
    kept: list[tuple[str, ...]]  # per fold: programs left after curation
    dropped: list[dict[str, str]]  # per fold: curated-away program -> reason
    train_posterior: list[np.ndarray]  # per fold: chosen model's posterior on the training rows
    train_covered: list[np.ndarray]  # per fold: training rows some kept program votes on
    valid_posterior: np.ndarray  # (n_labeled, n_classes): chosen model, out of fold
    valid_covered: np.ndarray  # (n_labeled,): some kept program of the row's fold votes on it
    fold_programs: bool = False  # each fold had programs of its own (generated without its rows)
    n_train: int = 0  # training rows the candidates were fitted on


def fit_label_model(
    name: str, L_train: np.ndarray, L_dev: np.ndarray, y_dev: np.ndarray, n_classes: int, *, seed: int,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Any:
    """Fit the label model ``name`` (see :data:`LABEL_MODEL_CANDIDATES`) with the labeled rows ``(L_dev, y_dev)``.

    Every candidate takes its class balance from ``y_dev`` (Laplace-smoothed) and gives rows
    without votes that prior; ``"<model>+valid"`` also hands the labeled rows to ``fit`` as a
    dev set (the weighted vote then takes each program's accuracy from them).
    """
    from alchemist_core.labelmodel.aggregate import (
        class_balance_from_labels,
        make_label_model,
    )

    base = name.removesuffix(VALID_SUFFIX)
    settings: dict[str, Any] = dict((params or {}).get(base, {}))
    if len(y_dev):
        settings["class_balance"] = class_balance_from_labels(y_dev, n_classes).tolist()
    if base in ("majority", "weighted"):
        settings.setdefault("uncovered", "prior")
    model = make_label_model(base, n_classes, seed=seed, **settings)
    if name.endswith(VALID_SUFFIX) and len(y_dev):
        return model.fit(L_train, L_dev, y_dev)
    return model.fit(L_train)


def _curate(votes: FoldVotes, labeled: np.ndarray, y: np.ndarray, n_classes: int, curate: bool) -> tuple[list[int], dict[str, str]]:
    from alchemist_core.programs.curate import curate_programs

    if not curate or not votes.names:
        return list(range(len(votes.names))), {}
    result = curate_programs(
        votes.L_train, votes.names, n_classes=n_classes, L_labeled=votes.L_valid[labeled], y_labeled=y[labeled],
        digests=votes.digests,
    )
    keep = set(result.keep)
    return [j for j, name in enumerate(votes.names) if name in keep], result.reasons


def cross_fit_label_models(
    fold_votes: Sequence[FoldVotes],
    folds: ValidFolds,
    y: Any,
    n_classes: int,
    *,
    metric: MetricChoice,
    seed: int,
    candidates: Sequence[str] = LABEL_MODEL_CANDIDATES,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    curate: bool = True,
) -> LabelModelCrossFit:
    """Score every label model out of fold and keep the best (see the module docstring).

    Parameters
    ----------
    fold_votes : sequence of FoldVotes
        One per fold, or a single one that every fold shares.
    folds : ValidFolds
    y : array of int, shape (n_labeled,)
        Gold labels of the labeled valid rows, in the order of ``L_valid``.
    n_classes : int
    metric : MetricChoice
    seed : int
    candidates : sequence of str
        Names among :data:`LABEL_MODEL_CANDIDATES`.
    params : mapping, optional
        Per base model name, settings for :func:`alchemist_core.labelmodel.aggregate.make_label_model`.
    curate : bool
        Drop programs per fold as :func:`alchemist_core.programs.curate.curate_programs` does, the
        below-chance test on that fold's labeled rows.
    """
    from alchemist_core.labelmodel.aggregate import probs_to_preds

    y = np.asarray(y, dtype=np.int64)
    if len(fold_votes) not in (1, folds.n_folds):
        raise InputError(f"expected one FoldVotes per fold ({folds.n_folds}) or one for all, got {len(fold_votes)}")
    unknown = [c for c in candidates if c.removesuffix(VALID_SUFFIX) not in ("majority", "weighted", "snorkel")]
    if unknown or not candidates:
        raise InputError(f"expected label model candidates among {list(LABEL_MODEL_CANDIDATES)}, got {list(candidates)}")
    valid_shares = class_shares(y, n_classes)
    n_train = fold_votes[0].L_train.shape[0]
    oof = {name: np.zeros((len(y), n_classes)) for name in candidates}
    train_posterior: dict[str, list[np.ndarray]] = {name: [] for name in candidates}
    failed: dict[str, str] = {}
    kept, dropped, train_covered = [], [], []
    valid_covered = np.zeros(len(y), dtype=bool)
    for k in range(folds.n_folds):
        votes = fold_votes[k if len(fold_votes) > 1 else 0]
        labeled, held = folds.labeled(k), folds.held_out(k)
        columns, reasons = _curate(votes, labeled, y, n_classes, curate)
        kept.append(tuple(votes.names[j] for j in columns))
        dropped.append(reasons)
        L_train, L_valid = votes.L_train[:, columns], votes.L_valid[:, columns]
        covered = (L_train != -1).any(axis=1) if columns else np.zeros(n_train, dtype=bool)
        train_covered.append(covered)
        valid_covered[held] = (L_valid[held] != -1).any(axis=1) if columns else False
        for name in candidates:
            if name in failed:
                continue
            try:
                # With no program left (curation dropped them all), majority and weighted votes
                # give every row the class prior, and the students decide everything.
                model = fit_label_model(name, L_train, L_valid[labeled], y[labeled], n_classes, seed=seed, params=params)
            except ValueError as error:
                failed[name] = str(error)
                logger.warning("label model %s left out of the choice: %s", name, error)
                continue
            oof[name][held] = model.predict_proba(L_valid[held])
            train_posterior[name].append(model.predict_proba(L_train))
    scores = []
    for name in candidates:
        if name in failed:
            continue
        pred = probs_to_preds(oof[name], tie_break="wrench")
        shares = np.mean(
            [class_shares(np.where(cov, p.argmax(axis=1), -1), n_classes) for p, cov in zip(train_posterior[name], train_covered)],
            axis=0,
        )
        scores.append(score_candidate(name, "label model", y, pred, shares, valid_shares, n_classes))
    if not scores:
        raise InputError(f"no label model could be fitted in every fold: {failed}")
    best, chosen_by, warnings = pick(scores, metric)
    logger.info("label model %s chosen out of fold by %s", best.name, chosen_by)
    return LabelModelCrossFit(
        scores, best.name, chosen_by, warnings, kept, dropped, train_posterior[best.name], train_covered,
        oof[best.name], valid_covered, fold_programs=len(fold_votes) > 1, n_train=n_train,
    )


# ---------------------------------------------------------------------------------------------
# Students and the final labels, out of fold


@dataclass
class StudentCrossFit:
    """Out-of-fold predictions of every student candidate."""

    valid_proba: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n_labeled, n_classes)
    train_proba: dict[str, list[np.ndarray]] = field(default_factory=dict)  # name -> per fold (n_train, n_classes) float32
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


Inputs = Callable[[str], Mapping[str, Any]]
"""``features -> {"train": X_train, "valid": X_valid}``: a student's inputs on the training rows
and on the labeled valid rows (in the order of their labels)."""


def cross_fit_students(
    label_models: LabelModelCrossFit,
    inputs: Inputs,
    folds: ValidFolds,
    y: Any,
    n_classes: int,
    *,
    candidates: Sequence[Any],
    config: Any = None,
    seed: int,
    n_jobs: int | None = 1,
) -> StudentCrossFit:
    """Fit every student candidate once per fold and predict the fold it did not see.

    Fold ``k``'s students learn from that fold's pseudolabels (``label_models``) and, in the
    gold modes, from the labeled rows of the other folds; a candidate that cannot be fitted in
    some fold (e.g. the posterior has a single class) is left out with its reason. The fits run
    in ``n_jobs`` worker processes (``None``: one per CPU core); folds that would train the same
    student (:func:`_training_key`) share one fit.
    """
    from joblib import Parallel, delayed

    from alchemist_core.students.training import _config_for

    y = np.asarray(y, dtype=np.int64)
    result = StudentCrossFit()
    jobs: list[tuple[Any, str, int]] = []  # (choice, training key, first fold with that key)
    keys: dict[tuple[str, int], str] = {}
    features: dict[str, Mapping[str, Any]] = {}
    for choice in candidates:
        try:
            features.setdefault(choice.features, inputs(choice.features))
        except InputError as error:
            result.failed[choice.name] = str(error)
            continue
        seen: set[str] = set()
        for k in range(folds.n_folds):
            key = _training_key(choice, label_models.train_posterior[k], label_models.train_covered[k], np.flatnonzero(folds.labeled(k)))
            keys[(choice.name, k)] = key
            if key not in seen:
                seen.add(key)
                jobs.append((choice, key, k))
    started = time.perf_counter()
    outcomes = Parallel(n_jobs=_workers(n_jobs, len(jobs)))(
        delayed(_fit_and_predict)(
            choice, features[choice.features], label_models.train_posterior[k], label_models.train_covered[k],
            np.flatnonzero(folds.labeled(k)), y, _config_for(choice, config), seed,
        )
        for choice, _, k in jobs
    )
    fitted = {(choice.name, key): outcome for (choice, key, _), outcome in zip(jobs, outcomes)}
    for choice in candidates:
        if choice.name in result.failed:
            continue
        errors = [fitted[(choice.name, keys[(choice.name, k)])] for k in range(folds.n_folds)]
        failure = next((e for e in errors if isinstance(e, str)), None)
        if failure is not None:
            result.failed[choice.name] = failure
            logger.warning("student %s left out of the choice: %s", choice.name, failure)
            continue
        proba = np.zeros((len(y), n_classes))
        train_proba = []
        for k in range(folds.n_folds):
            valid_proba, predicted, seconds = fitted[(choice.name, keys[(choice.name, k)])]
            held = folds.held_out(k)
            proba[held] = valid_proba[held]
            train_proba.append(predicted)
            result.seconds[choice.name] = result.seconds.get(choice.name, 0.0) + seconds
        result.valid_proba[choice.name] = proba
        result.train_proba[choice.name] = train_proba
        logger.info("student %s: out-of-fold predictions (%.1f s of fitting)", choice.name, result.seconds[choice.name])
    logger.info("%d student fits in %.1f s", len(jobs), time.perf_counter() - started)
    return result


def _workers(n_jobs: int | None, n_tasks: int) -> int:
    import os

    available = os.cpu_count() or 1
    wanted = available if n_jobs is None else n_jobs
    return max(1, min(wanted, n_tasks, available))


def _fit_and_predict(
    choice: Any, X: Mapping[str, Any], posterior: np.ndarray, covered: np.ndarray, labeled: np.ndarray, y: np.ndarray,
    config: Any, seed: int,
) -> tuple[np.ndarray, np.ndarray, float] | str:
    """One fold's student: its probabilities on every labeled valid row and on the training rows.

    Returns the reason instead when the student cannot be fitted (an :class:`InputError`).
    """
    from alchemist_core.students.training import _rows, fit_student

    started = time.perf_counter()
    try:
        student = fit_student(
            choice, X["train"], posterior, covered, X_gold=_rows(X["valid"], labeled), y_gold=y[labeled], config=config, seed=seed
        )
    except InputError as error:
        return str(error)
    return student.predict_proba(X["valid"]), student.predict_proba(X["train"]).astype(np.float32), time.perf_counter() - started


def _training_key(choice: Any, posterior: np.ndarray, covered: np.ndarray, labeled: np.ndarray) -> str:
    """What a fold's student is trained on. Folds with equal keys train the same student, fitted once.

    A student of the pseudolabels alone learns nothing from the fold's labeled rows, so where
    two folds share their programs and their label model's posterior (a majority or weighted
    vote of programs that were not mined from the labeled rows) it is the same student.
    """
    import hashlib

    from alchemist_core.students.training import GOLD_ROW_MODES

    digest = hashlib.sha256(np.ascontiguousarray(covered).tobytes())
    rows = np.flatnonzero(covered) if choice.rows == "covered" or choice.rows == "covered+gold" else slice(None)
    digest.update(np.ascontiguousarray(posterior[rows]).tobytes())
    if choice.rows in GOLD_ROW_MODES:
        digest.update(np.ascontiguousarray(labeled).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Selection:
    """Every out-of-fold choice of a run: the label model, then the final labels.

    ``winner`` is :data:`LABEL_MODEL_FINAL` (the label model's labels, ``fallback_student``
    where no program votes), :data:`BLEND_FINAL` (the label model's posterior and
    ``fallback_student``'s averaged where programs vote, the student's elsewhere) or a student
    name (``model/features/rows``; rows ``gold`` is the supervised floor). ``fallback_student``
    is the best student by the same rule.
    """

    metric: MetricChoice
    n_folds: int
    n_labeled: int
    seed: int
    valid_shares: tuple[float, ...]
    label_models: tuple[CandidateScore, ...]
    label_model: str
    candidates: tuple[CandidateScore, ...]
    winner: str
    fallback_student: str
    chosen_by: str
    warnings: tuple[str, ...] = ()
    dropped: Mapping[str, str] = field(default_factory=dict)  # programs curation dropped in some fold
    fold_programs: bool = False  # each fold's programs were generated without its labeled rows
    n_train: int = 0  # training rows the candidates were fitted on
    interval: tuple[float, float] | None = None  # 95% bootstrap interval of the winner's score by chosen_by
    # The winner's out-of-fold scores corrected for having been picked (:func:`corrected_for_choice`).
    corrected: Mapping[str, float | None] | None = None

    @property
    def digest(self) -> str:
        """Digest of every choice and score (what the stages after the choice depend on)."""
        from alchemist_core.digest import digest_json

        return digest_json(self.to_json())

    @property
    def winner_score(self) -> CandidateScore:
        return self.candidate(self.winner)

    def progress_summary(self) -> str:
        score = self.winner_score.score(self.chosen_by)
        shown = "?" if score != score else f"{score:.3f}"  # NaN: no score by that metric
        return f"{self.winner}, out-of-fold {self.chosen_by} {shown} among {len(self.candidates)} candidates"

    def candidate(self, name: str) -> CandidateScore:
        for score in self.candidates:
            if score.name == name:
                return score
        raise KeyError(f"no candidate {name!r}; candidates are {[s.name for s in self.candidates]}")

    @property
    def student(self) -> str:
        """The student the run trains: the winner when it is a student, else the fallback."""
        return self.fallback_student if self.winner in USES_LABEL_MODEL else self.winner

    def margins(self) -> dict[str, float]:
        """How far the winner is ahead (by ``chosen_by``) of the runner-up, the label model and the best supervised floor.

        The label model's and the floor's margins are left out when the winner is one of them.
        """
        metric = self.chosen_by
        win = self.winner_score.score(metric)
        others = [s for s in self.candidates if s.name != self.winner]
        out: dict[str, float] = {}
        if others:
            out["runner_up"] = win - max(s.score(metric) for s in others)
        if self.winner != LABEL_MODEL_FINAL and any(s.name == LABEL_MODEL_FINAL for s in self.candidates):
            # The label model alone: its posterior where programs vote, the student elsewhere.
            out["label_model"] = win - self.candidate(LABEL_MODEL_FINAL).score(metric)
        supervised = [s for s in self.candidates if s.role == "supervised" and s.name != self.winner]
        if supervised and self.winner_score.role != "supervised":
            out["supervised"] = win - max(s.score(metric) for s in supervised)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": asdict(self.metric),
            "n_folds": self.n_folds,
            "n_labeled": self.n_labeled,
            "seed": self.seed,
            "valid_shares": list(self.valid_shares),
            "label_models": [s.to_json() for s in self.label_models],
            "label_model": self.label_model,
            "candidates": [s.to_json() for s in self.candidates],
            "winner": self.winner,
            "fallback_student": self.fallback_student,
            "chosen_by": self.chosen_by,
            "warnings": list(self.warnings),
            "dropped": dict(self.dropped),
            "fold_programs": self.fold_programs,
            "n_train": self.n_train,
            "interval": None if self.interval is None else list(self.interval),
            "corrected": None if self.corrected is None else dict(self.corrected),
            "margins": {k: round(v, 4) for k, v in self.margins().items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Selection":
        return cls(
            metric=MetricChoice(**data["metric"]),
            n_folds=data["n_folds"],
            n_labeled=data["n_labeled"],
            seed=data["seed"],
            valid_shares=tuple(data["valid_shares"]),
            label_models=tuple(CandidateScore.from_json(s) for s in data["label_models"]),
            label_model=data["label_model"],
            candidates=tuple(CandidateScore.from_json(s) for s in data["candidates"]),
            winner=data["winner"],
            fallback_student=data["fallback_student"],
            chosen_by=data["chosen_by"],
            warnings=tuple(data.get("warnings", ())),
            dropped=dict(data.get("dropped", {})),
            fold_programs=bool(data.get("fold_programs", False)),
            n_train=int(data.get("n_train", 0)),
            interval=None if data.get("interval") is None else tuple(data["interval"]),
            corrected=None if data.get("corrected") is None else dict(data["corrected"]),
        )


def choose_final(
    label_models: LabelModelCrossFit,
    students: StudentCrossFit,
    folds: ValidFolds,
    y: Any,
    n_classes: int,
    *,
    metric: MetricChoice,
    candidates: Sequence[Any],
) -> Selection:
    """Pick the final labels among the students, the supervised floor, the label model itself and the blend.

    The best student (by the same rule) is the *fallback*: it labels the rows no program votes
    on for the label model, and is averaged with the label model's posterior for the blend.
    """
    from alchemist_core.labelmodel.aggregate import probs_to_preds

    y = np.asarray(y, dtype=np.int64)
    valid_shares = class_shares(y, n_classes)
    student_scores: list[CandidateScore] = []
    predictions: dict[str, np.ndarray] = {}
    for choice in candidates:
        if choice.name not in students.valid_proba:
            continue
        pred = students.valid_proba[choice.name].argmax(axis=1)
        shares = np.mean([class_shares(p.argmax(axis=1), n_classes) for p in students.train_proba[choice.name]], axis=0)
        role = "supervised" if choice.rows == "gold" else "student"
        student_scores.append(score_candidate(choice.name, role, y, pred, shares, valid_shares, n_classes))
        predictions[choice.name] = pred
    if not student_scores:
        raise InputError(f"no student candidate could be fitted in every fold: {students.failed}")
    fallback, _, _ = pick(student_scores, metric)
    valid_student = students.valid_proba[fallback.name]
    train_student = students.train_proba[fallback.name]

    # The label model's own labels: its posterior where some program votes, the student elsewhere;
    # and the blend: the two posteriors averaged where programs vote, the student elsewhere.
    def combine(posterior: np.ndarray, covered: np.ndarray, student: np.ndarray, weight: float) -> np.ndarray:
        mixed = np.asarray(student, dtype=np.float64).copy()
        mixed[covered] = weight * posterior[covered] + (1.0 - weight) * mixed[covered]
        return mixed

    scores: list[CandidateScore] = []
    for name, weight, role, note in (
        (BLEND_FINAL, 0.5, "blend", f"{label_models.chosen} and {fallback.name} averaged where programs vote"),
        (LABEL_MODEL_FINAL, 1.0, "label model", f"{label_models.chosen}; {fallback.name} where no program votes"),
    ):
        valid_mix = combine(label_models.valid_posterior, label_models.valid_covered, valid_student, weight)
        shares = np.mean(
            [
                class_shares(probs_to_preds(combine(posterior, covered, student, weight), tie_break="wrench"), n_classes)
                for posterior, covered, student in zip(label_models.train_posterior, label_models.train_covered, train_student)
            ],
            axis=0,
        )
        pred = probs_to_preds(valid_mix, tie_break="wrench")
        scores.append(score_candidate(name, role, y, pred, shares, valid_shares, n_classes, note))
        predictions[name] = pred
    scores += student_scores
    winner, chosen_by, warnings = pick(scores, metric)
    interval = bootstrap_interval(y, predictions[winner.name], n_classes, chosen_by, seed=folds.seed)
    corrected = corrected_for_choice(scores, predictions, y, n_classes, metric, seed=folds.seed)
    dropped: dict[str, str] = {}
    for reasons in label_models.dropped:
        for name, reason in reasons.items():
            dropped.setdefault(name, reason)
    selection = Selection(
        metric=metric,
        n_folds=folds.n_folds,
        n_labeled=len(y),
        seed=folds.seed,
        valid_shares=tuple(float(v) for v in valid_shares),
        label_models=tuple(label_models.scores),
        label_model=label_models.chosen,
        candidates=tuple(scores),
        winner=winner.name,
        fallback_student=fallback.name,
        chosen_by=chosen_by,
        warnings=tuple([*label_models.warnings, *warnings, *_failures(students)]),
        dropped=dropped,
        fold_programs=label_models.fold_programs,
        n_train=label_models.n_train,
        interval=interval,
        corrected=corrected,
    )
    logger.info(
        "final labels from %s (out-of-fold %s %.4f, %.4f corrected for the choice); label model %s, student %s",
        selection.winner, chosen_by, winner.score(chosen_by), corrected[chosen_by], selection.label_model, selection.student,
    )
    return selection


def choose_label_model_only(
    fold_votes: Sequence[FoldVotes],
    folds: ValidFolds,
    y: Any,
    n_classes: int,
    *,
    metric: MetricChoice,
    seed: int,
    candidates: Sequence[str] = LABEL_MODEL_CANDIDATES,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    curate: bool = True,
) -> Selection:
    """The choice of a run without a student: the label model alone gives the final labels."""
    from alchemist_core.labelmodel.aggregate import probs_to_preds

    y = np.asarray(y, dtype=np.int64)
    label_models = cross_fit_label_models(
        fold_votes, folds, y, n_classes, metric=metric, seed=seed, candidates=candidates, params=params, curate=curate
    )
    chosen = next(s for s in label_models.scores if s.name == label_models.chosen)
    valid_shares = class_shares(y, n_classes)
    pred = probs_to_preds(label_models.valid_posterior, tie_break="wrench")
    score = score_candidate(
        LABEL_MODEL_FINAL, "label model", y, pred, chosen.train_shares, valid_shares, n_classes, label_models.chosen
    )
    dropped: dict[str, str] = {}
    for reasons in label_models.dropped:
        for name, reason in reasons.items():
            dropped.setdefault(name, reason)
    return Selection(
        metric=metric, n_folds=folds.n_folds, n_labeled=len(y), seed=folds.seed,
        valid_shares=tuple(float(v) for v in valid_shares), label_models=tuple(label_models.scores),
        label_model=label_models.chosen, candidates=(score,), winner=LABEL_MODEL_FINAL, fallback_student="",
        chosen_by=label_models.chosen_by, warnings=tuple(label_models.warnings), dropped=dropped,
        fold_programs=label_models.fold_programs, n_train=label_models.n_train,
    )


def label_model_candidates(name: str, use_valid_labels: bool = True) -> tuple[str, ...]:
    """The label models a run chooses among: all of them for ``"auto"``, else ``name`` (and ``name+valid``).

    Examples
    --------
    >>> label_model_candidates("weighted")
    ('weighted', 'weighted+valid')
    >>> label_model_candidates("auto", use_valid_labels=False)
    ('majority', 'weighted', 'snorkel')
    """
    names = LABEL_MODEL_CANDIDATES if name == "auto" else (name, f"{name}{VALID_SUFFIX}")
    names = tuple(n for n in names if n in LABEL_MODEL_CANDIDATES)
    if not use_valid_labels:
        names = tuple(n for n in names if not n.endswith(VALID_SUFFIX))
    if not names:
        raise InputError(f"unknown label model {name!r}; expected auto or one of {sorted({n.removesuffix(VALID_SUFFIX) for n in LABEL_MODEL_CANDIDATES})}")
    return names


BOOTSTRAP_SAMPLES = 1000


def _bootstrap_counts(n: int, seed: int) -> np.ndarray:
    """``(BOOTSTRAP_SAMPLES, n)``: how often each of ``n`` rows is drawn in each seeded bootstrap sample."""
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(BOOTSTRAP_SAMPLES)])


def weighted_scores(weights: np.ndarray, y: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and (two classes) binary F1 of ``pred`` under each row of ``weights``.

    ``weights`` is ``(n_draws, n_rows)``: how often each labeled row counts in each draw (a
    bootstrap sample's counts, or 0/1 for the rows it left out). Macro-F1 averages the classes
    present in the draw's gold or predictions, as :func:`alchemist_core.report.metrics.macro_f1` does.

    Examples
    --------
    >>> y, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    >>> s = weighted_scores(np.array([[1.0, 1, 1, 1], [1, 0, 1, 0]]), y, pred, 2)
    >>> [round(float(v), 4) for v in s["accuracy"]], [round(float(v), 4) for v in s["macro_f1"]]
    ([0.75, 1.0], [0.7333, 1.0])
    """
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=1)
    scores: dict[str, np.ndarray] = {"accuracy": weights @ (y == pred) / np.maximum(total, 1e-12)}
    f1 = np.zeros((n_classes, len(weights)))
    present = np.zeros((n_classes, len(weights)), dtype=bool)
    for c in range(n_classes):
        gold, guess = y == c, pred == c
        both = weights @ (gold & guess)
        denominator = weights @ gold + weights @ guess
        present[c] = denominator > 0
        f1[c] = np.where(present[c], 2 * both / np.maximum(denominator, 1e-12), 0.0)
    scores["macro_f1"] = (f1 * present).sum(axis=0) / np.maximum(present.sum(axis=0), 1)
    if n_classes == 2:
        scores["binary_f1"] = f1[1]
    return scores


def bootstrap_interval(
    y: np.ndarray, pred: np.ndarray, n_classes: int, metric: str, *, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """A percentile bootstrap interval of ``metric`` over the labeled rows (resampled with replacement).

    How far an out-of-fold score of a few hundred rows can be from the score on other data of the
    same kind: the report shows it beside the winner's score.

    Examples
    --------
    >>> low, high = bootstrap_interval(np.array([0, 1] * 50), np.array([0, 1] * 45 + [1, 0] * 5), 2, "accuracy", seed=0)
    >>> bool(0.8 < low < 0.9 < high < 0.97)
    True
    """
    y = np.asarray(y, dtype=np.int64)
    values = weighted_scores(_bootstrap_counts(len(y), seed), y, np.asarray(pred), n_classes)[metric]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def corrected_for_choice(
    scores: Sequence[CandidateScore],
    predictions: Mapping[str, np.ndarray],
    y: np.ndarray,
    n_classes: int,
    metric: MetricChoice,
    *,
    seed: int,
) -> dict[str, float | None]:
    """The winner's out-of-fold scores corrected for having been picked among ``scores``.

    The best of several out-of-fold scores is a little lucky on the rows that chose it, the more
    so the more candidates and the fewer labeled rows. The correction is the bootstrap
    bias-corrected cross-validation of Tsamardinos, Greasidou and Borboudakis (Machine Learning,
    2018): draw the labeled rows with replacement, pick the winner on the draw by the same rule
    as the run (:func:`pick`, collapse guard included), score it on the rows the draw left out,
    and average over draws. It needs no refitting: every candidate's out-of-fold predictions are
    already there. The figure is cautious: it is published as slightly pessimistic, and the
    final labels come from a refit on every labeled row, which the fold models were not.

    Returns the corrected ``accuracy``, ``macro_f1`` and ``binary_f1`` (None unless two classes).

    Examples
    --------
    >>> y = np.array([0, 1] * 50)
    >>> good, lucky = np.where(np.arange(100) < 90, y, 1 - y), np.where(np.arange(100) % 10 == 0, 1 - y, y)
    >>> names = ("a", "b")
    >>> scores = [CandidateScore(n, "student", 0.9, 0.9, None, (0.5, 0.5), False) for n in names]
    >>> corrected = corrected_for_choice(scores, dict(zip(names, (good, lucky))), y, 2, MetricChoice("accuracy", "", False), seed=0)
    >>> bool(0.85 < corrected["accuracy"] < 0.9)
    True
    """
    y = np.asarray(y, dtype=np.int64)
    counts = _bootstrap_counts(len(y), seed)
    left_out = (counts == 0).astype(np.float64)
    usable = left_out.sum(axis=1) > 0
    counts, left_out = counts[usable], left_out[usable]
    names = [s.name for s in scores]
    in_bag = {name: weighted_scores(counts, y, predictions[name], n_classes) for name in names}
    out_of_bag = {name: weighted_scores(left_out, y, predictions[name], n_classes) for name in names}
    chosen: dict[str, list[float]] = {key: [] for key in ("accuracy", "macro_f1", "binary_f1") if key in out_of_bag[names[0]]}
    for draw in range(len(counts)):
        drawn = [
            replace(
                s,
                accuracy=float(in_bag[s.name]["accuracy"][draw]),
                macro_f1=float(in_bag[s.name]["macro_f1"][draw]),
                binary_f1=None if "binary_f1" not in in_bag[s.name] else float(in_bag[s.name]["binary_f1"][draw]),
            )
            for s in scores
        ]
        best, _, _ = pick(drawn, metric)
        for key, values in chosen.items():
            values.append(float(out_of_bag[best.name][key][draw]))
    corrected: dict[str, float | None] = {key: float(np.mean(values)) for key, values in chosen.items()}
    corrected.setdefault("binary_f1", None)
    return corrected


def _failures(students: StudentCrossFit) -> list[str]:
    return [f"student {name} left out: {reason}" for name, reason in students.failed.items()]


def select(
    fold_votes: Sequence[FoldVotes],
    folds: ValidFolds,
    y: Any,
    n_classes: int,
    inputs: Inputs,
    *,
    metric: MetricChoice,
    seed: int,
    student_candidates: Sequence[Any] | None = None,
    label_model_candidates: Sequence[str] = LABEL_MODEL_CANDIDATES,
    label_model_params: Mapping[str, Mapping[str, Any]] | None = None,
    config: Any = None,
    curate: bool = True,
    n_jobs: int | None = 1,
) -> Selection:
    """Every out-of-fold choice in one call: label model, then the final labels (see the module docstring).

    ``n_jobs`` worker processes fit the students (``None``: one per CPU core).
    """
    from alchemist_core.students.training import DEFAULT_STUDENT_CANDIDATES

    candidates = list(student_candidates or DEFAULT_STUDENT_CANDIDATES)
    label_models = cross_fit_label_models(
        fold_votes, folds, y, n_classes, metric=metric, seed=seed, candidates=label_model_candidates,
        params=label_model_params, curate=curate,
    )
    students = cross_fit_students(
        label_models, inputs, folds, y, n_classes, candidates=candidates, config=config, seed=seed, n_jobs=n_jobs
    )
    return choose_final(label_models, students, folds, y, n_classes, metric=metric, candidates=candidates)
