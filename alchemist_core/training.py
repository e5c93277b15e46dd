"""The distillation stage: features for each split, a student fitted on the pseudolabels.

The student sees the training split's pseudolabels only. A labeled valid split, when there
is one, drives early stopping and, with :func:`select_student`, the choice among students
(model x features x training rows); the test split is predicted for the report and never
used for a choice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.errors import InputError
from alchemist_core.storage import Storage

logger = logging.getLogger(__name__)


def row_texts(table: pa.Table, fields: Sequence[str]) -> list[str]:
    """The text a student reads for each row: the fields' values, joined with `` | ``."""
    columns = [table.column(f).to_pylist() for f in fields]
    if len(columns) == 1:
        return ["" if v is None else str(v) for v in columns[0]]
    return [" | ".join("" if v is None else str(v) for v in values) for values in zip(*columns)]


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
    rows : {"covered", "all", "selftrain"}
        ``"covered"``: rows with at least one program vote. ``"all"``: every row with the
        label model's posterior (its prior on uncovered rows). ``"selftrain"``: first fit on the
        covered rows, then refit on all rows, the uncovered ones labeled by that first student.
    """

    model: str
    features: str
    rows: str = "covered"

    def __post_init__(self) -> None:
        from alchemist_core.distill import STUDENTS, TEXT_STUDENTS

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


ROW_MODES = ("covered", "all", "selftrain")

DEFAULT_STUDENT_CANDIDATES: tuple[StudentChoice, ...] = tuple(
    StudentChoice(model, features, rows)
    for model, features in (("logreg", "minilm"), ("logreg", "tfidf"), ("mlp", "minilm"))
    for rows in ROW_MODES
)
"""What :func:`select_student` tries by default, simplest first.

Left out: the MLP on TF-IDF (its first layer is tens of thousands of inputs wide: minutes per
fit on two CPU cores, and it never won on a valid split in ``docs/quality.md``) and the
``finetune`` student (GPU-sized work); name them in ``candidates`` to include them.
"""


@dataclass
class StudentSelection:
    """The outcome of :func:`select_student`: the chosen student and how every candidate scored."""

    choice: StudentChoice
    student: Any
    featurizer: Any  # the fitted TfidfFeaturizer for "tfidf", else None
    features: dict[str, Any]  # split -> the chosen student's input
    scores: dict[str, float]  # candidate name -> validation score


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
        from alchemist_core.features import TfidfFeaturizer, embed_with_cache

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


def fit_student(
    choice: StudentChoice,
    X: Any,
    posterior: np.ndarray,
    covered: np.ndarray,
    *,
    config: Any = None,
    X_valid: Any = None,
    y_valid: np.ndarray | None = None,
    seed: int = 0,
) -> Any:
    """Fit the student ``choice`` names on the training rows its ``rows`` mode selects.

    Parameters
    ----------
    choice : StudentChoice
    X : array, sparse matrix or list of str
        The training split's inputs (features, or texts for ``finetune``).
    posterior : numpy.ndarray, shape (n_rows, n_classes)
        The label model's posterior on the training split.
    covered : numpy.ndarray of bool, shape (n_rows,)
        Rows with at least one program vote.
    config : StudentConfig, optional
        ``None`` gives the kind's defaults (see :func:`alchemist_core.distill.make_student`).
    X_valid, y_valid : optional
        A labeled validation split for early stopping (never the test split).
    seed : int

    Returns
    -------
    The fitted student.

    Raises
    ------
    InputError
        When the rows mode leaves nothing to train on.
    """
    from alchemist_core.distill import LOGISTIC_C_GRID, make_student

    covered = np.asarray(covered, dtype=bool)
    posterior = np.asarray(posterior, dtype=np.float64)
    if choice.rows == "all":
        rows = np.arange(len(covered))
    else:
        rows = np.flatnonzero(covered)
    if not len(rows):
        raise InputError("no training row is covered by any program, so there is nothing to distil")
    valid = {"X_valid": X_valid, "y_valid": y_valid} if X_valid is not None else {}
    # With a validation split the logistic student picks its regularisation there.
    params = {"C": LOGISTIC_C_GRID} if choice.model == "logreg" and X_valid is not None else {}
    student = make_student(choice.model, config, seed=seed, **params).fit(_rows(X, rows), posterior[rows], **valid)
    if choice.rows != "selftrain" or covered.all():
        return student
    # Self-training: the uncovered rows take the first student's posterior as soft labels.
    uncovered = np.flatnonzero(~covered)
    targets = posterior.copy()
    targets[uncovered] = student.predict_proba(_rows(X, uncovered))
    return make_student(choice.model, config, seed=seed, **params).fit(X, targets, **valid)


def select_student(
    texts: Mapping[str, Sequence[str]],
    posterior: np.ndarray,
    covered: np.ndarray,
    y_valid: np.ndarray,
    *,
    candidates: Sequence[StudentChoice] = DEFAULT_STUDENT_CANDIDATES,
    config: Any = None,
    cache: Storage | None = None,
    encoder: str = "minilm",
    device: str | None = None,
    seed: int = 0,
    metric: str = "accuracy",
    train_split: str = "train",
    valid_split: str = "valid",
) -> StudentSelection:
    """Fit every candidate student on the training split and keep the best on the valid split.

    Only the valid split's gold labels are scored (rows with gold ``-1`` are left out); the test
    split, if present in ``texts``, is featurized but never looked at. Equal scores go to the
    earlier candidate, so order ``candidates`` from the simplest.

    Parameters
    ----------
    texts : mapping of split name to list of str
        The text each student reads, per split; must hold ``train_split`` and ``valid_split``.
    posterior : numpy.ndarray, shape (n_train, n_classes)
        The label model's posterior on the training split.
    covered : numpy.ndarray of bool, shape (n_train,)
    y_valid : numpy.ndarray of int, shape (n_valid,)
        Gold labels of the valid split, ``-1`` where unknown.
    candidates : sequence of StudentChoice
    config : StudentConfig, optional
        Settings of the feature students (``None``: their defaults); the ``finetune``
        student always uses :data:`alchemist_core.distill.FINETUNE_CONFIG` with this config's
        device and confidence weighting.
    cache : Storage, optional
        Where MiniLM embeddings are cached (``<cache>/embeddings``).
    encoder, device : str
        The sentence encoder and torch device.
    seed : int
    metric : {"accuracy", "macro_f1", "binary_f1"}
        What is maximised on the valid split.
    train_split, valid_split : str

    Returns
    -------
    StudentSelection

    Raises
    ------
    InputError
        When the valid split has no gold label, shapes disagree or no candidate is given.
    """
    from alchemist_core.evaluate import classification_metrics

    if not candidates:
        raise InputError("select_student needs at least one candidate StudentChoice, got none")
    texts = {split: list(values) for split, values in texts.items()}
    for split in (train_split, valid_split):
        if split not in texts:
            raise InputError(f"select_student needs the texts of the {split!r} split; got {sorted(texts)}")
    y_valid = np.asarray(y_valid)
    if y_valid.shape != (len(texts[valid_split]),):
        raise InputError(f"expected one gold label per valid text ({len(texts[valid_split])}), got shape {y_valid.shape}")
    known = y_valid >= 0
    if not known.any():
        raise InputError(f"select_student needs gold labels on the {valid_split!r} split; every one is -1 (unknown)")
    if np.asarray(posterior).shape[0] != len(texts[train_split]) or len(covered) != len(texts[train_split]):
        raise InputError(
            f"posterior ({np.asarray(posterior).shape[0]} rows) and covered ({len(covered)}) must match the "
            f"{len(texts[train_split])} training texts"
        )
    inputs = _Inputs(texts, train_split, cache, encoder, device)
    n_classes = np.asarray(posterior).shape[1]
    scores: dict[str, float] = {}
    best: tuple[float, StudentChoice, Any] | None = None
    for choice in candidates:
        X = inputs(choice.features)
        X_valid = _rows(X[valid_split], np.flatnonzero(known))
        started = time.perf_counter()
        student = fit_student(
            choice, X[train_split], posterior, covered, config=_config_for(choice, config),
            X_valid=X_valid, y_valid=y_valid[known], seed=seed,
        )
        predictions = student.predict(X_valid)
        score = float(classification_metrics(y_valid[known], predictions, n_classes)[metric])
        scores[choice.name] = score
        logger.info("student %s: valid %s %.4f (%.1f s)", choice.name, metric, score, time.perf_counter() - started)
        if best is None or score > best[0]:
            best = (score, choice, student)
    _, choice, student = best
    logger.info("student %s chosen on the %s split (%s %.4f)", choice.name, valid_split, metric, scores[choice.name])
    return StudentSelection(choice, student, inputs.featurizers.get(choice.features), inputs(choice.features), scores)


def _config_for(choice: StudentChoice, config: Any) -> Any:
    from alchemist_core.distill import FINETUNE_CONFIG, TEXT_STUDENTS

    if choice.model not in TEXT_STUDENTS or config is None:
        return config
    return replace(FINETUNE_CONFIG, device=config.device, confidence_weighting=config.confidence_weighting)


def _student_config(settings: Mapping[str, Any]) -> Any:
    from alchemist_core.distill import StudentConfig

    return StudentConfig(
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


def distill_and_predict(
    *,
    labels: Mapping[str, Sequence[str]],
    data: Storage,
    shards: Mapping[str, Sequence[str]],
    fields: Sequence[str],
    settings: Mapping[str, Any],
    splits: Mapping[str, str],
    cache: Storage,
    run: Storage,
    seed: int,
) -> dict[str, Any]:
    """Fit the student on the train split's pseudolabels, save it, and predict every split.

    ``settings`` is a :class:`~alchemist_core.config.StudentSettings` as a dict. With
    ``model="auto"`` the student is chosen by :func:`select_student` on the valid split's gold
    labels (among ``settings["candidates"]`` when given, as ``"model/features/rows"`` names,
    else :data:`DEFAULT_STUDENT_CANDIDATES`; scored by ``settings["metric"]``, accuracy by
    default); without gold labels on the valid split it falls back to ``logreg`` on
    ``settings["features"]``. ``model="finetune"`` fine-tunes the sentence encoder on the texts.
    With ``settings["max_train_rows"]`` the student is fitted on a seeded sample of that many
    training rows; every row of every split is predicted, the rows it was not fitted on
    :data:`PREDICT_CHUNK_ROWS` at a time.
    """
    import pickle

    from alchemist_core.distill import TEXT_STUDENTS
    from alchemist_core.features import embed_with_cache
    from alchemist_core.ingest import read_gold
    from alchemist_core.pseudolabels import table_posterior
    from alchemist_core.votes import sample_rows

    train = splits["train"]
    if train not in labels:
        raise ValueError(f"expected pseudolabels for the training split {train!r}; have {sorted(labels)}")
    row_ids: dict[str, np.ndarray] = {}
    texts: dict[str, list[str]] = {}
    for split, split_shards in shards.items():
        row_ids[split], texts[split] = _split_texts(data, split_shards, fields)

    pseudo = pa.concat_tables([Storage(uri).read_table() for uri in labels[train]])
    if pseudo.column("row_id").to_pylist() != list(row_ids[train]):
        raise ValueError("pseudolabels and data rows of the training split are not aligned; rerun the label stage")
    posterior = table_posterior(pseudo)
    covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
    if not covered.any():
        raise ValueError("no training row is covered by any program, so there is nothing to distil")
    # The student is fitted on a seeded sample of the training rows; every row is predicted.
    max_rows = settings.get("max_train_rows")
    fit_index = sample_rows(len(covered), max_rows, seed) if max_rows else None
    fit_texts = {train: texts[train]}
    if fit_index is not None:
        logger.info("student fitted on a sample of %d of %d training rows", len(fit_index), len(covered))
        fit_texts[train] = [texts[train][i] for i in fit_index]
        posterior, covered = posterior[fit_index], covered[fit_index]
        if not covered.any():
            raise ValueError("no sampled training row is covered by any program; raise student.max_train_rows")

    valid = splits.get("valid")
    gold_valid = None
    if valid in texts and valid != train:
        _, gold = read_gold(data, valid)
        if (gold >= 0).any():
            gold_valid = gold
            fit_texts[valid] = texts[valid]
    config = _student_config(settings)
    store = cache.child("embeddings")
    scores: dict[str, float] = {}
    model = settings["model"]
    if model == "auto" and gold_valid is None:
        model = "logreg"
        logger.info("no gold labels on the %r split to choose a student by: using logreg on %s", valid, settings["features"])
    if model == "auto":
        names = settings.get("candidates")
        candidates = [StudentChoice.parse(name) for name in names] if names else DEFAULT_STUDENT_CANDIDATES
        selection = select_student(
            fit_texts, posterior, covered, gold_valid, candidates=candidates, config=config, cache=cache,
            encoder=settings["encoder"], device=settings.get("device"), seed=seed,
            metric=settings.get("metric", "accuracy"), train_split=train, valid_split=valid,
        )
        choice, student, features, featurizer, scores = (
            selection.choice, selection.student, selection.features, selection.featurizer, selection.scores,
        )
    else:
        kind = "text" if model in TEXT_STUDENTS else settings["features"]
        choice = StudentChoice(model, kind, "covered" if settings["covered_only"] else "all")
        inputs = _Inputs(fit_texts, train, cache, settings["encoder"], settings.get("device"))
        features = inputs(kind)
        valid_inputs = {}
        if gold_valid is not None:
            known = np.flatnonzero(gold_valid >= 0)
            valid_inputs = {"X_valid": _rows(features[valid], known), "y_valid": gold_valid[known]}
        student = fit_student(
            choice, features[train], posterior, covered, config=_config_for(choice, config), seed=seed, **valid_inputs
        )
        featurizer = inputs.featurizers.get(kind)
    student.save(run, "student")
    run.write_json(
        {
            "model": choice.model, "features": choice.features, "rows": choice.rows, "encoder": settings["encoder"],
            "fields": list(fields), "valid_scores": scores, "metric": settings.get("metric", "accuracy"),
            "fit_rows": int(len(covered)),
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
    n_train_rows = len(covered) if choice.rows != "covered" else int(covered.sum())
    return {
        "uri": run.uri("student"),
        "predictions": predictions,
        "n_train_rows": n_train_rows,
        "device": str(getattr(student, "device_", "cpu")),
        "chosen": {"model": choice.model, "features": choice.features, "rows": choice.rows},
        "valid_scores": scores,
        "metric": settings.get("metric", "accuracy"),
    }


def stored_student_inputs(student_root: Storage, texts: Sequence[str], *, embeddings: Storage | None = None) -> Any:
    """What a stored student reads for ``texts``: TF-IDF with its own featurizer, embeddings, or the texts.

    ``student_root`` is a run's ``student/`` folder; ``embeddings`` caches MiniLM embeddings.
    """
    import pickle

    from alchemist_core.features import embed_with_cache

    meta = student_root.read_json("student.json")
    if meta["features"] == "tfidf":
        return pickle.loads(student_root.read_bytes("featurizer.pkl")).transform(texts)
    if meta["features"] == "text":
        return list(texts)
    return embed_with_cache(texts, embeddings, encoder=meta["encoder"])


def predict_file(run: Storage, source: str, out: str, *, fields: Sequence[str] | None = None, format: str | None = None) -> str:
    """Label a CSV, JSONL or Parquet file with a run's student; writes Parquet or CSV to ``out``."""
    import pandas as pd

    from alchemist_core.distill import load_student

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
