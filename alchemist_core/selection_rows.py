"""The rows the out-of-fold choices of a run are made on, written once into the run folder.

:mod:`alchemist_core.selection` compares candidates on two sets of rows: a seeded sample of
the training split (what each fold's label models and students are fitted on) and the
labeled valid rows (what each fold is scored on). :func:`write_selection_rows` writes both as
Parquet files under ``<run>/selection/rows/`` (row ids and input fields only, like a data
shard, so the fold programs of a generator that learns from labeled rows can be applied to
them with the pipeline's own program application), and the valid rows' gold labels and fold
indices apart, under ``selection/labels.parquet``, where no program reads them.

The sample is :func:`alchemist_core.sampling.sample_rows` of the training split, the draw that
:func:`alchemist_core.programs.vote_shards.sample_label_matrix` makes, so votes of the final program set on
the sample can be read from its vote shards (:func:`sample_votes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.data.ingest import DatasetManifest, read_gold
from alchemist_core.data.storage import Storage, parquet_bytes
from alchemist_core.digest import combine, sha256_bytes
from alchemist_core.refs import ShardJob
from alchemist_core.sampling import sample_rows
from alchemist_core.selection import MIN_LABELED_ROWS, FoldVotes, ValidFolds, make_folds
from alchemist_core.students.features import row_texts

TRAIN_FILE = "rows/train.parquet"
VALID_FILE = "rows/valid.parquet"
LABELS_FILE = "labels.parquet"


@dataclass(frozen=True)
class SelectionRows:
    """Where a run's selection rows are, and what they are.

    ``root`` is the run's ``selection/`` folder; ``train_shard`` and ``valid_shard`` are the
    row files relative to it (programs are applied to them like data shards, with their
    ``*_digest`` as the vote cache's shard digest).
    """

    root: str
    n_train: int  # rows in the sample
    n_train_total: int  # rows of the training split
    n_labeled: int
    n_folds: int
    seed: int
    max_train_rows: int
    train_digest: str
    valid_digest: str
    labels_digest: str

    train_shard = TRAIN_FILE
    valid_shard = VALID_FILE

    def progress_summary(self) -> str:
        return f"{self.n_labeled:,} labeled valid rows in {self.n_folds} folds, {self.n_train:,} training rows"

    @property
    def digest(self) -> str:
        return combine(self.train_digest, self.valid_digest, self.labels_digest, str(self.max_train_rows))

    @property
    def uri(self) -> str:
        return self.root

    @property
    def storage(self) -> Storage:
        return Storage(self.root)

    def labels(self) -> tuple[np.ndarray, np.ndarray, ValidFolds]:
        """Row ids, gold labels and folds of the labeled valid rows (in file order)."""
        table = self.storage.read_table(LABELS_FILE)
        fold = table.column("fold").to_numpy().astype(np.int64)
        return (
            table.column("row_id").to_numpy(zero_copy_only=False),
            table.column("label").to_numpy().astype(np.int64),
            ValidFolds(fold, self.n_folds, self.seed),
        )

    def texts(self, fields: Sequence[str]) -> dict[str, list[str]]:
        """What a student reads for each selection row: ``{"train": [...], "valid": [...]}``."""
        return {
            "train": row_texts(self.storage.read_table(TRAIN_FILE, columns=list(fields)), fields),
            "valid": row_texts(self.storage.read_table(VALID_FILE, columns=list(fields)), fields),
        }


def write_selection_rows(
    data: Storage,
    manifest: DatasetManifest,
    out: Storage,
    *,
    train_split: str,
    valid_split: str,
    max_train_rows: int,
    n_folds: int,
    seed: int,
) -> SelectionRows | None:
    """Write the sample of training rows, the labeled valid rows and their folds under ``out``.

    Returns ``None`` when there is no basis for a choice: no valid split, or fewer than
    :data:`alchemist_core.selection.MIN_LABELED_ROWS` labeled rows in it.
    """
    if valid_split not in manifest.splits or valid_split == train_split or not manifest.splits[valid_split].has_gold:
        return None
    gold_ids, gold = read_gold(data, valid_split)
    if int((gold >= 0).sum()) < MIN_LABELED_ROWS:
        return None
    fields = list(manifest.fields)
    columns = ["row_id", *fields]
    train_info = manifest.splits[train_split]
    rows = sample_rows(train_info.n_rows, max_train_rows, seed)
    blocks, start = [], 0
    for shard in train_info.shards:
        table = data.read_table(shard, columns=columns)
        if rows is None:
            blocks.append(table)
        else:
            lo, hi = np.searchsorted(rows, [start, start + table.num_rows])
            if hi > lo:
                blocks.append(table.take(pa.array(rows[lo:hi] - start, type=pa.int64())))
        start += table.num_rows
    train = pa.concat_tables(blocks, promote_options="permissive") if blocks else pa.table({c: [] for c in columns})
    valid = pa.concat_tables(
        [data.read_table(shard, columns=columns) for shard in manifest.splits[valid_split].shards], promote_options="permissive"
    )
    if valid.column("row_id").to_pylist() != list(gold_ids):
        raise ValueError(f"gold labels and data rows of the {valid_split!r} split are not aligned; re-ingest the dataset")
    labeled = np.flatnonzero(gold >= 0)
    valid = valid.take(pa.array(labeled, type=pa.int64()))
    y = gold[labeled]
    folds = make_folds(y, n_folds=n_folds, seed=seed)
    labels = pa.table(
        {"row_id": valid.column("row_id"), "label": pa.array(y, type=pa.int64()), "fold": pa.array(folds.fold, type=pa.int64())}
    )
    digests = []
    for table, name in ((train, TRAIN_FILE), (valid, VALID_FILE), (labels, LABELS_FILE)):
        payload = parquet_bytes(table)
        out.write_bytes(payload, name)
        digests.append(sha256_bytes(payload))
    return SelectionRows(
        root=out.root, n_train=train.num_rows, n_train_total=train_info.n_rows, n_labeled=len(y), n_folds=folds.n_folds,
        seed=seed, max_train_rows=max_train_rows, train_digest=digests[0], valid_digest=digests[1], labels_digest=digests[2],
    )


def sample_votes(rows: SelectionRows, train_uris: Sequence[str], valid_uris: Sequence[str], names: Sequence[str], digests: Sequence[str] | None = None) -> FoldVotes:
    """The final program set's votes on the selection rows, read from its vote shards."""
    from alchemist_core.programs.vote_shards import (
        read_label_matrix,
        sample_label_matrix,
    )

    L_train, n_rows = sample_label_matrix(train_uris, names, rows.max_train_rows, rows.seed)
    if n_rows != rows.n_train_total or len(L_train) != rows.n_train:
        raise ValueError(
            f"the training votes have {n_rows} rows but the selection rows were drawn from {rows.n_train_total}; "
            "rerun the run from ingest"
        )
    valid_ids, L_valid, _ = read_label_matrix(valid_uris, names)
    labeled_ids, _, _ = rows.labels()
    position = {row_id: i for i, row_id in enumerate(valid_ids.tolist())}
    missing = [r for r in labeled_ids.tolist() if r not in position]
    if missing:
        raise ValueError(f"{len(missing)} labeled valid rows have no votes, e.g. {missing[:3]}; rerun the run from ingest")
    L_valid = L_valid[[position[r] for r in labeled_ids.tolist()]]
    return FoldVotes(tuple(names), L_train, L_valid, None if digests is None else tuple(digests))


def fold_votes(votes: Any, names: Sequence[str], digests: Sequence[str] | None = None) -> FoldVotes:
    """One fold's program votes on the selection rows, from its two vote files (train, valid)."""
    from alchemist_core.programs.vote_shards import read_label_matrix

    _, L_train, _ = read_label_matrix([votes["train"]], names)
    _, L_valid, _ = read_label_matrix([votes["valid"]], names)
    return FoldVotes(tuple(names), L_train, L_valid, None if digests is None else tuple(digests))


def fold_plan(rows: SelectionRows, run_root: str, fold: int) -> list[ShardJob]:
    """The batch that applies fold ``fold``'s programs to the selection rows (the jobs :func:`alchemist_core.runs.shard_plan` makes)."""
    run = Storage(run_root)
    return [
        ShardJob(
            split=split, shard=shard, shard_digest=digest,
            votes_uri=run.uri("selection", f"fold-{fold}", "votes", split, "shard-00000.parquet"),
        )  # fmt: skip
        for split, shard, digest in (("train", TRAIN_FILE, rows.train_digest), ("valid", VALID_FILE, rows.valid_digest))
    ]


def votes_on_labeled_rows(
    data: Storage,
    train_uris: Sequence[str],
    valid_uris: Sequence[str],
    names: Sequence[str],
    *,
    valid_split: str,
    max_train_rows: int,
    n_folds: int,
    seed: int,
) -> tuple[FoldVotes, np.ndarray, ValidFolds] | None:
    """Votes, gold labels and folds to choose a label model on, read straight from vote shards.

    For a run that chooses only its label model out of fold (the image pipeline): a seeded
    sample of the training votes, the votes on the labeled valid rows, and stratified folds of
    those rows. ``None`` when the valid split has fewer than
    :data:`alchemist_core.selection.MIN_LABELED_ROWS` labeled rows.
    """
    from alchemist_core.programs.vote_shards import (
        read_label_matrix,
        sample_label_matrix,
    )

    if not valid_uris:
        return None
    valid_ids, L_valid, _ = read_label_matrix(valid_uris, names)
    gold_ids, gold = read_gold(data, valid_split)
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    y = np.asarray([lookup.get(r, -1) for r in valid_ids.tolist()], dtype=np.int64)
    if int((y >= 0).sum()) < MIN_LABELED_ROWS:
        return None
    L_train, _ = sample_label_matrix(train_uris, names, max_train_rows, seed)
    labeled = y >= 0
    folds = make_folds(y[labeled], n_folds=n_folds, seed=seed)
    return FoldVotes(tuple(names), L_train, L_valid[labeled]), y[labeled], folds
