"""The distillation stage: features for each split, a student fitted on the pseudolabels.

The student sees the training split's pseudolabels only. A labeled valid split, when there
is one, drives early stopping and, with :func:`select_student`, the choice among students
(model x features x training rows); the test split is predicted for the report and never
used for a choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.data.pickles import load_pickle
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.sampling import sample_positions, sample_rows, stratified_folds
from alchemist_core.students.features import row_texts

logger = logging.getLogger(__name__)


def _split_texts(data: Storage, shards: Sequence[str], fields: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    row_ids: list[Any] = []
    texts: list[str] = []
    for shard in shards:
        table = data.read_table(shard, columns=["row_id", *fields])
        row_ids.extend(table.column("row_id").to_pylist())
        texts.extend(row_texts(table, fields))
    return np.asarray(row_ids, dtype=object), texts


@dataclass(frozen=True)
class StudentChoice:
    """One student candidate: which model, on which features, trained on which rows.

    Parameters
    ----------
    model : {"logreg", "mlp", "finetune"}
    features : {"minilm", "tfidf", "text"}
        ``"text"`` (the raw texts) goes with ``"finetune"`` and only with it.
    rows : {"covered", "all", "selftrain", "covered+gold", "gold"}
        ``"covered"``: rows with at least one program vote. ``"all"``: every row with the
        label model's posterior (its prior on uncovered rows). ``"selftrain"``: first fit on the
        covered rows, then refit on all rows, the uncovered ones labeled by that first student.
        ``"covered+gold"``: the covered rows plus the labeled (gold) rows, the gold rows weighted
        up so that together they weigh as much as the pseudolabeled rows. ``"gold"``: the
        labeled rows alone, no pseudolabel at all (the supervised floor every run is held to).
    """

    model: str
    features: str
    rows: str = "covered"

    def __post_init__(self) -> None:
        from alchemist_core.students.registry import STUDENTS, TEXT_STUDENTS

        problems = []
        if self.model not in {**STUDENTS, **TEXT_STUDENTS}:
            problems.append(f"model must be one of {sorted({**STUDENTS, **TEXT_STUDENTS})}, got {self.model!r}")
        if (self.model in TEXT_STUDENTS) != (self.features == "text"):
            problems.append(f"features 'text' goes with the finetune student and only with it, got {self.model}/{self.features}")
        elif self.features not in ("minilm", "tfidf", "text"):
            problems.append(f"features must be 'minilm', 'tfidf' or 'text', got {self.features!r}")
        if self.rows not in ROW_MODES:
            problems.append(f"rows must be one of {list(ROW_MODES)}, got {self.rows!r}")
        if problems:
            raise InputError("invalid StudentChoice: " + "; ".join(problems))

    @property
    def name(self) -> str:
        return f"{self.model}/{self.features}/{self.rows}"

    @classmethod
    def parse(cls, name: str) -> "StudentChoice":
        """The choice a ``"model/features/rows"`` name (as :attr:`name` writes it) stands for."""
        parts = str(name).split("/")
        if len(parts) != 3:
            raise InputError(f"expected a student name 'model/features/rows' such as 'logreg/tfidf/covered', got {name!r}")
        return cls(*parts)


ROW_MODES = ("covered", "all", "selftrain", "covered+gold", "gold")
GOLD_ROW_MODES = ("covered+gold", "gold")
"""Row modes that train on the labeled rows' gold labels (their scores must be out of fold)."""

DEFAULT_STUDENT_CANDIDATES: tuple[StudentChoice, ...] = (
    StudentChoice("logreg", "minilm", "covered"),
    StudentChoice("logreg", "tfidf", "covered"),
    StudentChoice("logreg", "minilm", "covered+gold"),
    StudentChoice("logreg", "tfidf", "covered+gold"),
    StudentChoice("mlp", "minilm", "covered+gold"),
    StudentChoice("logreg", "minilm", "gold"),
    StudentChoice("logreg", "tfidf", "gold"),
)
"""What the run chooses among by default, simplest first.

Students distilled from the pseudolabels of the covered rows, the same with the labeled rows
added (weighted up), and the supervised floor: logistic regression on the labeled rows alone.
``tfidf`` (word and character n-grams) needs no language model, so every kind of candidate has
one that works in any language. Every candidate is fitted once per fold, so the grid is kept
small: each one more costs a fit per fold and makes the best out-of-fold score a little more
flattering. Left out, and available through ``candidates``: the ``all`` and ``selftrain`` rows
(the uncovered rows with the label model's prior, or with a first student's labels), the MLP
on TF-IDF (its first layer is tens of thousands of inputs wide: minutes per fit on two CPU
cores) and the ``finetune`` student (GPU-sized work).
"""


class _Inputs:
    """Student inputs per feature kind and split, computed once and on first use."""

    def __init__(self, texts: Mapping[str, list[str]], train_split: str, cache: Storage | None, encoder: str, device: str | None):
        self.texts = texts
        self.train_split = train_split
        self.cache = cache
        self.encoder = encoder
        self.device = device
        self.featurizers: dict[str, Any] = {}
        self._inputs: dict[str, dict[str, Any]] = {}

    def __call__(self, features: str) -> dict[str, Any]:
        if features not in self._inputs:
            self._inputs[features] = self._compute(features)
        return self._inputs[features]

    def _compute(self, features: str) -> dict[str, Any]:
        from alchemist_core.students.features import TfidfFeaturizer, embed_with_cache

        if features == "text":
            return dict(self.texts)
        if features == "tfidf":
            featurizer = TfidfFeaturizer().fit(self.texts[self.train_split])
            self.featurizers["tfidf"] = featurizer
            return {s: featurizer.transform(t) for s, t in self.texts.items()}
        if features == "minilm":
            store = self.cache.child("embeddings") if self.cache is not None else None
            return {s: embed_with_cache(t, store, encoder=self.encoder, device=self.device) for s, t in self.texts.items()}
        raise InputError(f"unknown student features {features!r}; expected minilm, tfidf or text")


def _rows(X: Any, index: np.ndarray) -> Any:
    if isinstance(X, list):
        return [X[i] for i in index]
    return X[index]


HOLDOUT_FRACTION = 0.2
"""Share of the pseudolabeled rows a student holds out to choose its own settings on."""
MIN_HOLDOUT_ROWS = 20
"""Below this many held-out rows a student keeps its default settings instead."""
DEFAULT_C = 1.0
"""Regularisation of a logistic student with too few rows to choose among :data:`LOGISTIC_C_GRID`."""


def _stack(first: Any, second: Any) -> Any:
    """Rows of ``second`` under those of ``first``: arrays, sparse matrices or lists of texts."""
    import scipy.sparse

    if isinstance(first, list):
        return [*first, *second]
    if scipy.sparse.issparse(first) or scipy.sparse.issparse(second):
        return scipy.sparse.vstack([first, second]).tocsr()
    return np.vstack([first, second])


def _holdout_rows(n_rows: int, seed: int) -> np.ndarray:
    """A seeded share of ``range(n_rows)`` to hold out, or none when it would be too small."""
    n_holdout = int(round(HOLDOUT_FRACTION * n_rows))
    if n_holdout < MIN_HOLDOUT_ROWS or n_rows - n_holdout < MIN_HOLDOUT_ROWS:
        return np.zeros(0, dtype=np.int64)
    return sample_positions(n_rows, n_holdout, seed)


def gold_row_weight(posterior: np.ndarray, n_gold: int, confidence_weighting: bool) -> float:
    """Weight of each gold row so that the gold rows together weigh as much as the pseudolabeled ones.

    Never below 1: a gold label is worth at least a pseudolabel.

    Examples
    --------
    >>> gold_row_weight(np.array([[1.0, 0.0]] * 10), 2, True)
    5.0
    """
    from alchemist_core.students.base import row_confidence

    if n_gold <= 0:
        raise InputError("gold_row_weight needs at least one gold row")
    mass = float(row_confidence(posterior).sum()) if confidence_weighting else float(len(posterior))
    return max(1.0, mass / n_gold)


def _fit_with_holdout(model: str, X: Any, targets: np.ndarray, weights: np.ndarray | None, n_pseudo: int, config: Any, seed: int) -> Any:
    """Fit ``model``; its settings (the logistic ``C``, the MLP's epochs) are chosen on held-out pseudolabels.

    The first ``n_pseudo`` rows are pseudolabeled; a seeded share of them is held out, so no
    gold label is spent on a student's own settings. Rows after
    ``n_pseudo`` (gold rows) are always trained on. The held-out rows are scored by agreement
    with their pseudolabels (:func:`alchemist_core.students.base.validation_score`). The logistic
    student is refitted on every row with the chosen ``C``; the MLP keeps the weights of its
    best epoch.
    """
    from alchemist_core.students.logistic import LOGISTIC_C_GRID
    from alchemist_core.students.registry import make_student

    held = _holdout_rows(n_pseudo, seed)
    rest = np.setdiff1d(np.arange(len(targets)), held)
    w = np.ones(len(targets)) if weights is None else np.asarray(weights, dtype=np.float64)
    if model == "logreg":
        C = DEFAULT_C
        if len(held):
            probe = make_student("logreg", config, seed=seed, C=LOGISTIC_C_GRID).fit(
                _rows(X, rest), targets[rest], weights=w[rest], X_valid=_rows(X, held), y_valid=targets[held]
            )
            C = probe.C_
        return make_student("logreg", config, seed=seed, C=C).fit(X, targets, weights=w)
    student = make_student(model, config, seed=seed)
    if not len(held):
        return student.fit(X, targets, weights=w)
    return student.fit(_rows(X, rest), targets[rest], weights=w[rest], X_valid=_rows(X, held), y_valid=targets[held])


def _fit_on_gold(model: str, X_gold: Any, y_gold: np.ndarray, n_classes: int, config: Any, seed: int) -> Any:
    """The supervised floor: ``model`` trained on the labeled rows alone.

    A logistic student chooses ``C`` by stratified 3-fold cross-validation (log-loss) on those
    rows; other students hold out part of them for early stopping.
    """
    from alchemist_core.students.logistic import LOGISTIC_C_GRID
    from alchemist_core.students.registry import make_student

    targets = np.eye(n_classes)[y_gold]
    if model != "logreg":
        return _fit_with_holdout(model, X_gold, targets, None, len(y_gold), config, seed)
    counts = np.bincount(y_gold, minlength=n_classes)
    n_folds = 3
    C = DEFAULT_C
    if len(y_gold) >= 2 * n_folds and (counts > 0).sum() >= 2:
        folds = stratified_folds(y_gold, n_folds, seed=seed)
        losses = []
        for C_value in LOGISTIC_C_GRID:
            loss = 0.0
            for k in range(n_folds):
                train, test = folds != k, folds == k
                if len(np.unique(y_gold[train])) < 2:
                    loss = np.inf
                    break
                student = make_student("logreg", config, seed=seed, C=C_value).fit(_rows(X_gold, np.flatnonzero(train)), targets[train])
                proba = student.predict_proba(_rows(X_gold, np.flatnonzero(test)))
                loss -= float(np.log(np.clip(proba[np.arange(test.sum()), y_gold[test]], 1e-12, 1.0)).sum())
            losses.append(loss)
        if np.isfinite(min(losses)):
            C = LOGISTIC_C_GRID[int(np.argmin(losses))]
    return make_student("logreg", config, seed=seed, C=C).fit(X_gold, targets)


def fit_student(
    choice: StudentChoice,
    X: Any,
    posterior: np.ndarray,
    covered: np.ndarray,
    *,
    X_gold: Any = None,
    y_gold: np.ndarray | None = None,
    config: Any = None,
    seed: int = 0,
) -> Any:
    """Fit the student ``choice`` names on the rows its ``rows`` mode selects.

    No gold label chooses a student's own settings: the logistic student's ``C`` and the MLP's
    early stopping are decided on held-out pseudolabels (:func:`_fit_with_holdout`), and the
    supervised floor cross-validates on its labeled rows. So a student's score on rows it was
    not trained on is an honest estimate of its quality.

    Parameters
    ----------
    choice : StudentChoice
    X : array, sparse matrix or list of str
        The training split's inputs (features, or texts for ``finetune``).
    posterior : numpy.ndarray, shape (n_rows, n_classes)
        The label model's posterior on the training split.
    covered : numpy.ndarray of bool, shape (n_rows,)
        Rows with at least one program vote.
    X_gold, y_gold : optional
        Labeled rows (inputs like ``X``, class indices), for the ``covered+gold`` and ``gold``
        modes. Never the test split; when choosing, never the rows the student is scored on.
    config : StudentHyperparameters, optional
        ``None`` gives the kind's defaults (see :func:`alchemist_core.students.registry.make_student`).
    seed : int

    Returns
    -------
    The fitted student.

    Raises
    ------
    InputError
        When the rows mode leaves nothing to train on, or a gold mode gets no labeled rows.
    """
    covered = np.asarray(covered, dtype=bool)
    posterior = np.asarray(posterior, dtype=np.float64)
    n_classes = posterior.shape[1]
    if choice.rows in GOLD_ROW_MODES:
        if X_gold is None or y_gold is None or len(y_gold) == 0:
            raise InputError(f"student {choice.name} trains on labeled rows, but none were given")
        y_gold = np.asarray(y_gold, dtype=np.int64)
        if y_gold.min() < 0 or y_gold.max() >= n_classes:
            raise InputError(f"gold labels must be class indices in 0..{n_classes - 1}, got values in [{y_gold.min()}, {y_gold.max()}]")
    if choice.rows == "gold":
        return _fit_on_gold(choice.model, X_gold, y_gold, n_classes, config, seed)
    rows = np.arange(len(covered)) if choice.rows == "all" else np.flatnonzero(covered)
    if not len(rows) and choice.rows != "covered+gold":
        raise InputError("no training row is covered by any program, so there is nothing to distil")
    X_fit, targets, weights = _rows(X, rows), posterior[rows], None
    if choice.rows == "covered+gold":
        confidence_weighting = True if config is None else config.confidence_weighting
        weight = gold_row_weight(targets, len(y_gold), confidence_weighting)
        X_fit = _stack(X_fit, X_gold)
        weights = np.concatenate([np.ones(len(rows)), np.full(len(y_gold), weight)])
        targets = np.vstack([targets, np.eye(n_classes)[y_gold]])
    student = _fit_with_holdout(choice.model, X_fit, targets, weights, len(rows), config, seed)
    if choice.rows != "selftrain" or covered.all():
        return student
    # Self-training: the uncovered rows take the first student's posterior as soft labels.
    uncovered = np.flatnonzero(~covered)
    targets = posterior.copy()
    targets[uncovered] = student.predict_proba(_rows(X, uncovered))
    return _fit_with_holdout(choice.model, X, targets, None, len(targets), config, seed)


def _config_for(choice: StudentChoice, config: Any) -> Any:
    from alchemist_core.students.finetune import FINETUNE_CONFIG
    from alchemist_core.students.registry import TEXT_STUDENTS

    if choice.model not in TEXT_STUDENTS or config is None:
        return config
    return replace(FINETUNE_CONFIG, device=config.device, confidence_weighting=config.confidence_weighting)


def _student_config(settings: Mapping[str, Any]) -> Any:
    from alchemist_core.students.base import StudentHyperparameters

    return StudentHyperparameters(
        hidden=tuple(settings["hidden"]),
        lr=settings["lr"],
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        confidence_weighting=settings["confidence_weighting"],
        covered_only=settings["covered_only"],
        device=settings.get("device"),
    )


PREDICT_CHUNK_ROWS = 50_000
"""Rows featurized and predicted at a time for the rows the student was not fitted on."""


def student_candidates(settings: Mapping[str, Any]) -> list[StudentChoice]:
    """The students a run chooses among, from ``StudentConfig`` (as a dict).

    ``model: auto`` takes ``candidates`` (or :data:`DEFAULT_STUDENT_CANDIDATES`); a fixed model
    is the one candidate of its kind. Either way the supervised floor is added when the list
    has no ``gold`` candidate: logistic regression on the labeled rows alone, on TF-IDF (which
    works in any language) and, when another candidate reads them, on MiniLM embeddings.

    Examples
    --------
    >>> [c.name for c in student_candidates({"model": "logreg", "features": "tfidf", "covered_only": True})]
    ['logreg/tfidf/covered', 'logreg/tfidf/gold']
    """
    from alchemist_core.students.registry import TEXT_STUDENTS

    model = settings["model"]
    if model == "auto":
        names = settings.get("candidates")
        candidates = [StudentChoice.parse(name) for name in names] if names else list(DEFAULT_STUDENT_CANDIDATES)
    else:
        kind = "text" if model in TEXT_STUDENTS else settings["features"]
        candidates = [StudentChoice(model, kind, "covered" if settings.get("covered_only", True) else "all")]
    if not any(c.rows == "gold" for c in candidates):
        if any(c.features == "minilm" for c in candidates):
            candidates.append(StudentChoice("logreg", "minilm", "gold"))
        candidates.append(StudentChoice("logreg", "tfidf", "gold"))
    return candidates


def default_student(settings: Mapping[str, Any]) -> StudentChoice:
    """The student of a run that cannot choose (no labeled valid rows): ``logreg`` for ``auto``."""
    from alchemist_core.students.registry import TEXT_STUDENTS

    model = "logreg" if settings["model"] == "auto" else settings["model"]
    kind = "text" if model in TEXT_STUDENTS else settings["features"]
    return StudentChoice(model, kind, "covered" if settings["covered_only"] else "all")


def distill_and_predict(
    *,
    pseudolabels: Mapping[str, Sequence[str]],
    data: Storage,
    shards: Mapping[str, Sequence[str]],
    fields: Sequence[str],
    settings: Mapping[str, Any],
    splits: Mapping[str, str],
    cache: Storage,
    run: Storage,
    seed: int,
    choice: StudentChoice | None = None,
) -> dict[str, Any]:
    """Fit the student ``choice`` on the train split's pseudolabels, save it, and predict every split.

    ``choice`` is what the run's out-of-fold selection chose (:mod:`alchemist_core.selection`);
    ``None`` gives :func:`default_student`. ``settings`` is a
    :class:`~alchemist_core.config.StudentConfig` as a dict. A ``covered+gold`` or ``gold``
    student also trains on every labeled row of the valid split. With
    ``settings["max_train_rows"]`` the student is fitted on a seeded sample of that many training
    rows; every row of every split is predicted, the rows it was not fitted on
    :data:`PREDICT_CHUNK_ROWS` at a time.
    """
    import pickle

    from alchemist_core.data.ingest import read_gold
    from alchemist_core.labelmodel.pseudolabels import table_posterior
    from alchemist_core.students.features import embed_with_cache

    train = splits["train"]
    if train not in pseudolabels:
        raise ValueError(f"expected pseudolabels for the training split {train!r}; have {sorted(pseudolabels)}")
    choice = choice or default_student(settings)
    row_ids: dict[str, np.ndarray] = {}
    texts: dict[str, list[str]] = {}
    for split, split_shards in shards.items():
        row_ids[split], texts[split] = _split_texts(data, split_shards, fields)

    pseudo = pa.concat_tables([Storage(uri).read_table() for uri in pseudolabels[train]])
    if pseudo.column("row_id").to_pylist() != list(row_ids[train]):
        raise ValueError("pseudolabels and data rows of the training split are not aligned; rerun the label stage")
    posterior = table_posterior(pseudo)
    covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
    if not covered.any() and choice.rows != "gold":
        raise ValueError("no training row is covered by any program, so there is nothing to distil")
    # The student is fitted on a seeded sample of the training rows; every row is predicted.
    max_rows = settings.get("max_train_rows")
    fit_index = sample_rows(len(covered), max_rows, seed) if max_rows else None
    fit_texts = {train: texts[train]}
    if fit_index is not None:
        logger.info("student fitted on a sample of %d of %d training rows", len(fit_index), len(covered))
        fit_texts[train] = [texts[train][i] for i in fit_index]
        posterior, covered = posterior[fit_index], covered[fit_index]
        if not covered.any() and choice.rows != "gold":
            raise ValueError("no sampled training row is covered by any program; raise student.max_train_rows")

    valid = splits.get("valid")
    gold_rows = y_gold = None
    if choice.rows in GOLD_ROW_MODES:
        if valid not in texts or valid == train:
            raise InputError(f"student {choice.name} trains on the labeled rows of the {valid!r} split, which this run lacks")
        gold_ids, gold = read_gold(data, valid)
        if list(gold_ids) != list(row_ids[valid]):
            raise ValueError(f"gold labels and data rows of the {valid!r} split are not aligned; re-ingest the dataset")
        gold_rows = np.flatnonzero(gold >= 0)
        y_gold = gold[gold_rows]
        if not len(gold_rows):
            raise InputError(f"student {choice.name} trains on labeled rows, but the {valid!r} split has no gold label")
        fit_texts[valid] = texts[valid]
    config = _config_for(choice, _student_config(settings))
    store = cache.child("embeddings")
    inputs = _Inputs(fit_texts, train, cache, settings["encoder"], settings.get("device"))
    features = inputs(choice.features)
    gold_inputs = {} if gold_rows is None else {"X_gold": _rows(features[valid], gold_rows), "y_gold": y_gold}
    student = fit_student(choice, features[train], posterior, covered, config=config, seed=seed, **gold_inputs)
    featurizer = inputs.featurizers.get(choice.features)
    student.save(run, "student")
    run.write_json(
        {
            "model": choice.model, "features": choice.features, "rows": choice.rows, "encoder": settings["encoder"],
            "fields": list(fields), "fit_rows": int(len(covered)),
            "n_gold_rows": 0 if y_gold is None else int(len(y_gold)),
        },
        "student", "student.json",
    )
    if featurizer is not None:
        run.write_bytes(pickle.dumps(featurizer), "student", "featurizer.pkl")

    def featurize(chunk: list[str]) -> Any:
        if choice.features == "tfidf":
            return featurizer.transform(chunk)
        if choice.features == "minilm":
            return embed_with_cache(chunk, store, encoder=settings["encoder"], device=settings.get("device"))
        return chunk

    predictions: dict[str, str] = {}
    for split in texts:
        proba = None
        known_rows = np.zeros(len(texts[split]), dtype=bool)
        if split in features and (split != train or fit_index is None):
            proba = student.predict_proba(features[split])
            known_rows[:] = True
        elif split == train:
            first = student.predict_proba(features[train])
            proba = np.empty((len(texts[split]), first.shape[1]), dtype=np.float64)
            proba[fit_index] = first
            known_rows[fit_index] = True
        rest = np.flatnonzero(~known_rows)
        for lo in range(0, len(rest), PREDICT_CHUNK_ROWS):
            chunk = rest[lo : lo + PREDICT_CHUNK_ROWS]
            part = student.predict_proba(featurize([texts[split][i] for i in chunk]))
            if proba is None:
                proba = np.empty((len(texts[split]), part.shape[1]), dtype=np.float64)
            proba[chunk] = part
        if proba is None:  # an empty split
            proba = np.zeros((0, posterior.shape[1]))
        table = pa.table({"row_id": pa.array(row_ids[split], type=pa.string()), "label": pa.array(proba.argmax(axis=1))})
        for k in range(proba.shape[1]):
            table = table.append_column(f"p_{k}", pa.array(proba[:, k].astype(np.float32)))
        predictions[split] = run.write_table(table, "student", "predictions", f"{split}.parquet")
    if choice.rows == "gold":
        n_train_rows = int(len(y_gold))
    else:
        n_train_rows = len(covered) if choice.rows in ("all", "selftrain") else int(covered.sum())
        n_train_rows += 0 if y_gold is None else int(len(y_gold))
    return {
        "uri": run.uri("student"),
        "predictions": predictions,
        "n_train_rows": n_train_rows,
        "device": str(getattr(student, "device_", "cpu")),
        "chosen": {"model": choice.model, "features": choice.features, "rows": choice.rows},
    }


def stored_student_inputs(student_root: Storage, texts: Sequence[str], *, embeddings: Storage | None = None) -> Any:
    """What a stored student reads for ``texts``: TF-IDF with its own featurizer, embeddings, or the texts.

    ``student_root`` is a run's ``student/`` folder; ``embeddings`` caches MiniLM embeddings.
    """

    from alchemist_core.students.features import embed_with_cache

    meta = student_root.read_json("student.json")
    if meta["features"] == "tfidf":
        return load_pickle(student_root.read_bytes("featurizer.pkl")).transform(texts)
    if meta["features"] == "text":
        return list(texts)
    return embed_with_cache(texts, embeddings, encoder=meta["encoder"])


def predict_file(run: Storage, source: str, out: str, *, fields: Sequence[str] | None = None, format: str | None = None) -> str:
    """Label a CSV, JSONL or Parquet file with a run's student; writes Parquet or CSV to ``out``."""
    import pandas as pd

    from alchemist_core.students.registry import load_student

    if not run.exists("student", "student.json"):
        raise InputError(f"expected a trained student under {run.uri('student')}; run the pipeline with the student enabled first")
    meta = run.read_json("student", "student.json")
    fields = list(fields or meta["fields"])
    kind = format or source.rsplit(".", 1)[-1].lower()
    readers = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}
    if kind not in readers:
        raise InputError(f"expected a .csv, .jsonl or .parquet file to predict on, got {source!r}; pass --format")
    frame = readers[kind](source)
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise InputError(f"{source} lacks the student's input fields {missing}; it has {list(frame.columns)}")
    texts = row_texts(pa.Table.from_pandas(frame[fields], preserve_index=False), fields)
    X = stored_student_inputs(run.child("student"), texts)
    student = load_student(run, "student")
    proba = student.predict_proba(X)
    spec_classes = [c["name"] for c in run.read_json("spec.json")["classes"]]
    result = frame.copy()
    result["label"] = proba.argmax(axis=1)
    result["label_name"] = [spec_classes[i] for i in result["label"]]
    result["confidence"] = proba.max(axis=1)
    if out.endswith(".csv"):
        result.to_csv(out, index=False)
    else:
        result.to_parquet(out, index=False)
    return out
