"""Pseudolabels: the label model's posterior as a Parquet table.

Columns: ``row_id``, ``label`` (argmax, ties to the lowest class; ``-1`` where no program
voted and the label model has nothing to go on), ``confidence`` (max posterior), ``covered``
(at least one program voted), ``n_votes``, and ``p_0 .. p_{k-1}``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.programs.program_set import ABSTAIN


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


FINAL_SOURCES = ("label model", "student", "blend")


def final_label_table(
    pseudo: pa.Table, student: pa.Table | None, *, use: str, row_offset: int = 0
) -> pa.Table:
    """A shard of the run's final labels: ``row_id``, ``label``, ``confidence``, ``source``, ``p_0 ..``.

    ``use`` is what the run chose out of fold (:mod:`alchemist_core.selection`):

    - ``"label model"``: a row some program votes on takes the label model's posterior, any
      other row the student's (without a student, the label model's prior);
    - ``"blend"``: a row some program votes on takes the average of the two posteriors, any
      other row the student's;
    - ``"student"``: every row takes the student's prediction.

    Ties are broken as the evaluation breaks them (:func:`alchemist_core.labelmodel.aggregate.probs_to_preds`
    ``"wrench"`` from ``row_offset``). ``source`` says, per row, which posterior labeled it.
    """
    from alchemist_core.labelmodel.aggregate import probs_to_preds

    if use not in FINAL_SOURCES:
        raise ValueError(f"expected use to be one of {list(FINAL_SOURCES)}, got {use!r}")
    row_ids = pseudo.column("row_id")
    if student is not None and student.column("row_id").to_pylist() != row_ids.to_pylist():
        raise ValueError("the student's predictions and the pseudolabels are not aligned; rerun the student stage")
    if use != "label model" and student is None:
        raise ValueError(f"final labels from the {use} need the student's predictions; the run has none")
    lm = table_posterior(pseudo)
    covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
    source = np.full(len(lm), "student", dtype=object)
    if use == "student":
        proba = table_posterior(student)
    else:
        proba = lm.copy() if student is None else table_posterior(student)
        weight = 1.0 if use == "label model" else 0.5
        rows = covered if student is not None else np.ones(len(lm), dtype=bool)
        proba[rows] = weight * lm[rows] + (1.0 - weight) * proba[rows]
        source[rows] = use
    label = probs_to_preds(proba, tie_break="wrench", row_offset=row_offset) if len(proba) else np.zeros(0, dtype=np.int64)
    columns = {
        "row_id": row_ids,
        "label": pa.array(label.astype(np.int64)),
        "confidence": pa.array(proba[np.arange(len(label)), label].astype(np.float32) if len(label) else np.zeros(0, np.float32)),
        "source": pa.array(source.tolist(), type=pa.string()),
    }
    for k in range(proba.shape[1]):
        columns[f"p_{k}"] = pa.array(proba[:, k].astype(np.float32))
    return pa.table(columns)
