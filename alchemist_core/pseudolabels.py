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


FINAL_SOURCES = ("label model", "student")


def final_label_table(
    pseudo: pa.Table, student: pa.Table | None, *, use_label_model: bool, row_offset: int = 0
) -> pa.Table:
    """A shard of the run's final labels: ``row_id``, ``label``, ``confidence``, ``source``, ``p_0 ..``.

    With ``use_label_model`` (the run's out-of-fold choice was the label model), a row some
    program votes on takes the label model's posterior (ties broken as the evaluation breaks
    them, :func:`alchemist_core.aggregate.probs_to_preds` ``"wrench"`` from ``row_offset``) and
    any other row the student's; without a student, the label model's prior. Otherwise every
    row takes the student's prediction. ``source`` says which, per row.
    """
    from alchemist_core.aggregate import probs_to_preds

    row_ids = pseudo.column("row_id")
    if student is not None and student.column("row_id").to_pylist() != row_ids.to_pylist():
        raise ValueError("the student's predictions and the pseudolabels are not aligned; rerun the student stage")
    lm = table_posterior(pseudo)
    if not use_label_model:
        if student is None:
            raise ValueError("final labels from the student need its predictions; the run has none")
        proba = table_posterior(student)
        label = proba.argmax(axis=1)
        from_lm = np.zeros(len(label), dtype=bool)
    else:
        covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
        proba = lm.copy()
        label = probs_to_preds(lm, tie_break="wrench", row_offset=row_offset)
        from_lm = np.ones(len(label), dtype=bool)
        if student is not None:
            student_proba = table_posterior(student)
            proba[~covered] = student_proba[~covered]
            label = np.where(covered, label, student_proba.argmax(axis=1))
            from_lm = covered
    columns = {
        "row_id": row_ids,
        "label": pa.array(label.astype(np.int64)),
        "confidence": pa.array(proba[np.arange(len(label)), label].astype(np.float32) if len(label) else np.zeros(0, np.float32)),
        "source": pa.array(np.where(from_lm, FINAL_SOURCES[0], FINAL_SOURCES[1]).tolist(), type=pa.string()),
    }
    for k in range(proba.shape[1]):
        columns[f"p_{k}"] = pa.array(proba[:, k].astype(np.float32))
    return pa.table(columns)
