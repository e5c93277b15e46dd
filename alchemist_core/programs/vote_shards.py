"""Vote tables: the label matrix of vote shards, written and read back.

A vote shard is aligned with its data shard: a ``row_id`` column, then one int8 column per
program (``ABSTAIN = -1``). Reading votes needs nothing of the sandbox that wrote them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.data.storage import Storage
from alchemist_core.errors import StorageError
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.sampling import sample_rows


def votes_table(row_ids: Sequence[str] | pa.Array, L: np.ndarray, names: Sequence[str]) -> pa.Table:
    """A vote shard: ``row_id`` plus one int8 column per program."""
    L = np.asarray(L, dtype=np.int8)  # (n_rows, n_programs)
    if L.ndim != 2 or L.shape[1] != len(names):
        raise ValueError(f"expected votes of shape (n_rows, {len(names)}), got {L.shape}")
    columns = {"row_id": pa.array(row_ids, type=pa.string())}
    for j, name in enumerate(names):
        columns[name] = pa.array(L[:, j], type=pa.int8())
    return pa.table(columns)


def table_votes(table: pa.Table, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The label matrix (n_rows, n_programs) int8 and program names of a vote shard."""
    names = [n for n in table.column_names if n != "row_id"] if names is None else list(names)
    if not names:
        return np.full((table.num_rows, 0), ABSTAIN, dtype=np.int8), []
    L = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(np.int8, copy=False)
    return L, names


def read_label_matrix(uris: Sequence[str], names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Concatenate vote shards: (row_ids, L (n_rows, n_programs) int8, names)."""
    row_ids: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for uri in uris:
        table = Storage(uri).read_table()
        L, names = table_votes(table, names)
        row_ids.append(table.column("row_id").to_numpy(zero_copy_only=False))
        blocks.append(L)
    if not blocks:
        return np.array([], dtype=object), np.zeros((0, len(names or [])), dtype=np.int8), list(names or [])
    return np.concatenate(row_ids), np.concatenate(blocks), list(names or [])


def sample_label_matrix(
    uris: Sequence[str], names: Sequence[str], max_rows: int, seed: int
) -> tuple[np.ndarray, int]:
    """A seeded sample of at most ``max_rows`` rows of the vote shards, read one shard at a time.

    Returns ``(L, n_rows)``: the sampled votes (all of them, in order, when the shards hold at
    most ``max_rows`` rows) and the number of rows in all shards. Memory is one shard plus the
    sample, never every vote: at 10M rows x 50 programs the whole matrix is 500 MB of int8 and
    its int64 copies several GB.
    """
    counts = np.array([Storage(uri).parquet_rows() for uri in uris], dtype=np.int64)
    n_rows = int(counts.sum())
    rows = sample_rows(n_rows, max_rows, seed)
    if rows is None:
        return read_label_matrix(uris, names)[1], n_rows
    starts = np.concatenate([[0], np.cumsum(counts)])
    blocks: list[np.ndarray] = []
    for k, uri in enumerate(uris):
        lo, hi = np.searchsorted(rows, [starts[k], starts[k + 1]])
        if hi == lo:
            continue
        table = Storage(uri).read_table(columns=list(names))
        if table.num_rows != counts[k]:
            raise StorageError(f"vote shard {uri} changed while it was read: {table.num_rows} rows, {counts[k]} in its footer")
        L, _ = table_votes(table, names)
        blocks.append(L[rows[lo:hi] - starts[k]])
    return np.concatenate(blocks) if blocks else np.zeros((0, len(names)), dtype=np.int8), n_rows
