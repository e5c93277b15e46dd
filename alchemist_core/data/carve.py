"""Carve train / valid / test splits out of a dataset that does not come with them.

A dataset with a single split (MedAbs ships only its official test split) cannot be labeled
and judged as it is: the pipeline needs an unlabeled ``train`` pool, labeled ``valid`` rows to
choose on and, to be scored, a ``test`` part. :func:`carve_dataset` writes a derived dataset
whose splits follow one documented, seeded rule (:func:`carve_assignment`)::

    perm    = numpy.random.RandomState(seed).permutation(N)
    n_test  = ceil(test * N)                               first n_test of perm   -> test
    n_valid = ceil(valid / (train + valid) * (N - n_test)) next n_valid           -> valid
                                                           the rest               -> train

With the default fractions (0.72, 0.08, 0.2) this is the rule of ``shared/data/extra/README.md``
(20 % test, then 10 % of the rest as valid), which gives the paper's split sizes. Rows keep
their ids, fields, gold labels and weak labels; within each split they stay in source order.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.data.ingest import (
    MANIFEST_FILE,
    DatasetManifest,
    SplitInfo,
    load_dataset_manifest,
)
from alchemist_core.data.storage import Storage
from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (0.72, 0.08, 0.2)
CARVED_SPLITS = ("train", "valid", "test")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three non-negative fractions (train, valid, test) that sum to 1, train and valid above 0.

    Examples
    --------
    >>> check_fractions([0.72, 0.08, 0.2])
    (0.72, 0.08, 0.2)
    """
    values = tuple(float(f) for f in fractions)
    if len(values) != 3:
        raise InputError(f"expected three split fractions (train, valid, test), got {len(values)}: {list(fractions)}")
    if any(not math.isfinite(v) or v < 0 for v in values) or values[0] <= 0 or values[1] <= 0:
        raise InputError(f"expected split fractions train > 0, valid > 0, test >= 0, got {list(values)}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise InputError(f"expected split fractions that sum to 1, got {list(values)} (sum {sum(values):.4f})")
    return values  # type: ignore[return-value]


def carve_assignment(n_rows: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, *, seed: int = 0) -> np.ndarray:
    """The split name of each of ``n_rows`` rows (by source position), by the rule in the module docstring.

    Examples
    --------
    >>> split = carve_assignment(2888)
    >>> [int((split == name).sum()) for name in ("train", "valid", "test")]
    [2079, 231, 578]
    """
    train, valid, test = check_fractions(fractions)
    # Rounded before ceil, so 0.08 / 0.8 * 2310 (230.99999999999997 in floating point) is 231.
    n_test = math.ceil(round(test * n_rows, 9))
    n_valid = math.ceil(round(valid / (train + valid) * (n_rows - n_test), 9))
    order = np.random.RandomState(seed).permutation(n_rows)
    split = np.empty(n_rows, dtype=object)
    split[order[:n_test]] = "test"
    split[order[n_test : n_test + n_valid]] = "valid"
    split[order[n_test + n_valid :]] = "train"
    return split


def carve_digest(source_digest: str, fractions: Sequence[float], seed: int) -> str:
    """Digest of a carved dataset: its source's digest and the carve's settings."""
    return digest_json({"carved_from": source_digest, "fractions": list(check_fractions(fractions)), "seed": seed})


def carve_dataset(
    source: Storage, out: Storage, *, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> DatasetManifest:
    """Write ``source``'s rows (every split, pooled in manifest order) under ``out`` as train / valid / test.

    Returns the carved dataset's manifest; when ``out`` already holds this carve, nothing is
    rewritten. Writes are atomic and ``dataset.json`` comes last, as for an ingest.
    """
    from alchemist_core.data.ingest import _write_parquet, read_gold, read_weak_labels

    manifest = load_dataset_manifest(source)
    digest = carve_digest(manifest.digest, fractions, seed)
    if out.exists(MANIFEST_FILE):
        existing = DatasetManifest.from_json(out.read_json(MANIFEST_FILE))
        if existing.digest == digest and all(out.exists(s) for info in existing.splits.values() for s in info.shards):
            return existing
    tables, gold, weak = [], [], []
    for split, info in manifest.splits.items():
        tables.extend(source.read_table(shard) for shard in info.shards)
        gold.append(read_gold(source, split)[1])
        weak.append(read_weak_labels(source, split) if info.has_weak_labels else None)
    table = pa.concat_tables(tables, promote_options="permissive")
    labels = np.concatenate(gold) if gold else np.zeros(0, dtype=np.int64)
    has_weak = bool(weak) and all(w is not None for w in weak)
    if len(labels) != table.num_rows:
        raise InputError(f"{source.root}: {len(labels)} gold labels for {table.num_rows} rows; re-ingest the dataset")
    assignment = carve_assignment(table.num_rows, fractions, seed=seed)
    shard_rows = max([1, *(t.num_rows for t in tables)])  # the source's shard size
    for part in (MANIFEST_FILE, "shards", "gold", "weak"):
        out.delete(part)
    splits: dict[str, SplitInfo] = {}
    for name in CARVED_SPLITS:
        rows = np.flatnonzero(assignment == name)
        part = table.take(pa.array(rows, type=pa.int64()))
        shards, shard_digests = [], []
        for start in range(0, max(part.num_rows, 1), shard_rows):
            relative = f"shards/{name}/shard-{len(shards):05d}.parquet"
            shard_digests.append(_write_parquet(out, part.slice(start, shard_rows), relative))
            shards.append(relative)
        ids = part.column("row_id")
        _write_parquet(out, pa.table({"row_id": ids, "label": pa.array(labels[rows], type=pa.int64())}), f"gold/{name}.parquet")
        n_weak = 0
        if has_weak:
            votes = np.concatenate(weak)[rows]
            n_weak = votes.shape[1]
            columns = {"row_id": ids, **{f"weak_{j:03d}": pa.array(votes[:, j], type=pa.int8()) for j in range(n_weak)}}
            _write_parquet(out, pa.table(columns), f"weak/{name}.parquet")
        splits[name] = SplitInfo(
            n_rows=int(part.num_rows),
            shards=tuple(shards),
            shard_digests=tuple(shard_digests),
            has_gold=bool((labels[rows] >= 0).any()),
            n_gold=int((labels[rows] >= 0).sum()),
            has_weak_labels=has_weak,
            n_weak_labels=n_weak,
            null_counts={f: int(part.column(f).null_count) for f in manifest.fields if f in part.column_names},
        )
    carved = DatasetManifest(
        manifest.name, digest, manifest.fields, splits, manifest.class_names,
        f"{manifest.source} (carved {list(check_fractions(fractions))}, seed {seed})", manifest.format,
    )
    out.write_json(carved.to_json(), MANIFEST_FILE)
    logger.info(
        "carved %s into %s with seed %d", manifest.name, {s: i.n_rows for s, i in splits.items()}, seed
    )
    return carved


def carve_fractions(
    manifest: DatasetManifest, data: Mapping[str, Any], *, needs_train: bool = True
) -> tuple[float, float, float] | None:
    """The fractions to carve an ingested dataset with, from a ``DataConfig`` (as a dict); ``None`` to keep its splits.

    ``split_fractions`` when given. Otherwise, for a run that ``needs_train`` (a labeling run,
    not a relabel run): :data:`DEFAULT_FRACTIONS` when the dataset has a single split and no
    training split (a corpus shipped as one test file), and an error that says how to carve it
    when it has several splits but no training split.
    """
    if data.get("split_fractions"):
        return check_fractions(data["split_fractions"])
    train = data.get("train_split", "train")
    if not needs_train or train in manifest.splits:
        return None
    if len(manifest.splits) == 1:
        only = next(iter(manifest.splits))
        logger.warning(
            "the dataset has a single split (%r) and no %r split: carving train / valid / test from it with %s and seed %d "
            "(set data.split_fractions, --split-fractions, to choose)",
            only, train, list(DEFAULT_FRACTIONS), data.get("split_seed", 0),
        )
        return DEFAULT_FRACTIONS
    raise InputError(
        f"expected a {train!r} split to label; the dataset has {sorted(manifest.splits)}. Name the split column "
        f"(--split-field), set data.train_split, or carve all rows into train / valid / test with "
        f"--split-fractions 0.72,0.08,0.2"
    )


def carve_message(manifest: DatasetManifest) -> str:
    """``"train 2079 rows, valid 231 rows, test 578 rows"``."""
    return ", ".join(f"{split} {info.n_rows} rows" for split, info in manifest.splits.items())
