"""Pseudolabels: the label model's posterior as a Parquet table.

Columns: ``row_id``, ``label`` (argmax, ties to the lowest class; ``-1`` where no program
voted and the label model has nothing to go on), ``confidence`` (max posterior), ``covered``
(at least one program voted), ``n_votes``, and ``p_0 .. p_{k-1}``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.programs import ABSTAIN


def pseudolabel_table(row_ids: Sequence[str] | pa.Array, posterior: np.ndarray, L: np.ndarray) -> pa.Table:
    """Build the pseudolabel table of one shard from its posterior (n_rows, n_classes) and votes."""
    posterior = np.asarray(posterior, dtype=np.float64)
    n_votes = (np.asarray(L) != ABSTAIN).sum(axis=1) if L.shape[1] else np.zeros(len(posterior), dtype=np.int64)
    covered = n_votes > 0
    label = np.where(covered, posterior.argmax(axis=1), ABSTAIN).astype(np.int64)
    columns = {
        "row_id": pa.array(row_ids, type=pa.string()),
        "label": pa.array(label),
        "confidence": pa.array(posterior.max(axis=1).astype(np.float32)),
        "covered": pa.array(covered),
        "n_votes": pa.array(n_votes.astype(np.int32)),
    }
    for k in range(posterior.shape[1]):
        columns[f"p_{k}"] = pa.array(posterior[:, k].astype(np.float32))
    return pa.table(columns)


def table_posterior(table: pa.Table) -> np.ndarray:
    """The posterior (n_rows, n_classes) stored in a pseudolabel table."""
    names = sorted((c for c in table.column_names if c.startswith("p_")), key=lambda c: int(c[2:]))
    return np.column_stack([table.column(c).to_numpy() for c in names]).astype(np.float64)
