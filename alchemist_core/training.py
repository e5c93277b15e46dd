"""The distillation stage: features for each split, a student fitted on the pseudolabels.

The student sees the training split's pseudolabels only. A labeled valid split, when there
is one, drives early stopping; the test split is predicted for the report and never used
for a choice.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

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


def _featurize(name: str, encoder: str, texts_by_split: Mapping[str, list[str]], train_split: str, cache: Storage, device):
    from alchemist_core.features import TfidfFeaturizer, embed_with_cache

    if name == "tfidf":
        featurizer = TfidfFeaturizer().fit(texts_by_split[train_split])
        return {s: featurizer.transform(t) for s, t in texts_by_split.items()}, featurizer
    return {
        s: embed_with_cache(t, cache.child("embeddings"), encoder=encoder, device=device) for s, t in texts_by_split.items()
    }, None


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
    """Fit the student on the train split's pseudolabels, save it, and predict every split."""
    import pickle

    from alchemist_core.distill import StudentConfig, make_student
    from alchemist_core.ingest import read_gold
    from alchemist_core.pseudolabels import table_posterior

    train = splits["train"]
    if train not in labels:
        raise ValueError(f"expected pseudolabels for the training split {train!r}; have {sorted(labels)}")
    row_ids: dict[str, np.ndarray] = {}
    texts: dict[str, list[str]] = {}
    for split, split_shards in shards.items():
        row_ids[split], texts[split] = _split_texts(data, split_shards, fields)
    features, featurizer = _featurize(settings["features"], settings["encoder"], texts, train, cache, settings.get("device"))

    pseudo = pa.concat_tables([Storage(uri).read_table() for uri in labels[train]])
    if pseudo.column("row_id").to_pylist() != list(row_ids[train]):
        raise ValueError("pseudolabels and data rows of the training split are not aligned; rerun the label stage")
    posterior = table_posterior(pseudo)
    covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
    keep = covered if settings["covered_only"] else np.ones(len(covered), dtype=bool)
    if not keep.any():
        raise ValueError("no training row is covered by any program, so there is nothing to distil")

    X_valid = y_valid = None
    valid = splits.get("valid")
    if valid in features:
        _, gold = read_gold(data, valid)
        if (gold >= 0).any():
            X_valid, y_valid = features[valid][gold >= 0], gold[gold >= 0]

    config = StudentConfig(
        hidden=tuple(settings["hidden"]),
        lr=settings["lr"],
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        confidence_weighting=settings["confidence_weighting"],
        covered_only=settings["covered_only"],
        device=settings.get("device"),
    )
    student = make_student(settings["model"], config, seed=seed)
    student.fit(features[train][keep], posterior[keep], X_valid=X_valid, y_valid=y_valid)
    student.save(run, "student")
    run.write_json({"model": settings["model"], "features": settings["features"], "encoder": settings["encoder"], "fields": list(fields)}, "student", "student.json")
    if featurizer is not None:
        run.write_bytes(pickle.dumps(featurizer), "student", "featurizer.pkl")

    predictions: dict[str, str] = {}
    for split, X in features.items():
        proba = student.predict_proba(X)
        table = pa.table({"row_id": pa.array(row_ids[split], type=pa.string()), "label": pa.array(proba.argmax(axis=1))})
        for k in range(proba.shape[1]):
            table = table.append_column(f"p_{k}", pa.array(proba[:, k].astype(np.float32)))
        predictions[split] = run.write_table(table, "student", "predictions", f"{split}.parquet")
    return {
        "uri": run.uri("student"),
        "predictions": predictions,
        "n_train_rows": int(keep.sum()),
        "device": str(getattr(student, "device_", "cpu")),
    }


def predict_file(run: Storage, source: str, out: str, *, fields: Sequence[str] | None = None, format: str | None = None) -> str:
    """Label a CSV, JSONL or Parquet file with a run's student; writes Parquet or CSV to ``out``."""
    import pickle

    import pandas as pd

    from alchemist_core.distill import STUDENTS
    from alchemist_core.errors import InputError
    from alchemist_core.features import embed_with_cache

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
    if meta["features"] == "tfidf":
        X = pickle.loads(run.read_bytes("student", "featurizer.pkl")).transform(texts)
    else:
        X = embed_with_cache(texts, None, encoder=meta["encoder"])
    student = STUDENTS[meta["model"]].load(run, "student")
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
