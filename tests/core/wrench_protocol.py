"""WRENCH benchmark splits and WRENCH's majority-vote evaluation protocol, for the tests.

The pipeline reads WRENCH folders through :mod:`alchemist_core.data.ingest`; the tests use this
reader, in the file's row order, to check that Alchemist's majority vote and metrics reproduce
WRENCH's published numbers.

A WRENCH split file (``train.json``, ``valid.json``, ``test.json``) is one JSON object mapping
a string id to ``{"data": {...}, "label": int, "weak_labels": [int, ...]}``, where
``weak_labels`` holds one vote per human-written program (-1 = abstain). The order of the ids
in the file matters: WRENCH breaks ties by row index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from alchemist_core.errors import InputError
from alchemist_core.labelmodel.aggregate import MajorityVote, probs_to_preds
from alchemist_core.programs.label_matrix import check_label_matrix, coverage
from alchemist_core.report.metrics import classification_metrics


def read_wrench_split(path: str | Path) -> tuple[list[str], list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Read a WRENCH split file, keeping the file's row order.

    Parameters
    ----------
    path : str or Path
        A WRENCH ``train.json`` / ``valid.json`` / ``test.json``.

    Returns
    -------
    ids : list of str
    data_rows : list of dict
        Each row's ``data`` mapping (e.g. ``{"text": ...}``).
    labels : numpy.ndarray of int64, shape (n_rows,)
        Gold labels; -1 where the file has none (``null`` or missing).
    weak_labels : numpy.ndarray of int8, shape (n_rows, n_programs)
        The votes of WRENCH's programs, -1 = abstain.

    Raises
    ------
    InputError
        If the file is not JSON, not an object of rows, or rows disagree on the number of votes.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"could not read the WRENCH split {path}: {error}") from None
    if not isinstance(content, dict):
        raise InputError(
            f"expected a WRENCH split at {path} to be a JSON object of id -> row, got a {type(content).__name__}"
        )
    ids: list[str] = []
    data_rows: list[dict[str, Any]] = []
    labels: list[int] = []
    votes: list[list[int]] = []
    for row_id, row in content.items():
        if not isinstance(row, dict) or "data" not in row or "weak_labels" not in row:
            raise InputError(
                f"expected row {row_id!r} of {path} to have 'data' and 'weak_labels', got {type(row).__name__} "
                f"with keys {sorted(row) if isinstance(row, dict) else '-'}"
            )
        if votes and len(row["weak_labels"]) != len(votes[0]):
            raise InputError(
                f"expected every row of {path} to have {len(votes[0])} weak labels (as row {ids[0]!r}), "
                f"got {len(row['weak_labels'])} in row {row_id!r}"
            )
        ids.append(str(row_id))
        data_rows.append(dict(row["data"]))
        label = row.get("label")
        labels.append(-1 if label is None else int(label))
        votes.append(row["weak_labels"])
    n_programs = len(votes[0]) if votes else 0
    weak_labels = np.asarray(votes, dtype=np.int8).reshape(len(votes), n_programs)
    return ids, data_rows, np.asarray(labels, dtype=np.int64), weak_labels


def wrench_majority_vote_metrics(weak_labels: Any, labels: Any, n_classes: int) -> dict[str, Any]:
    """Score majority vote exactly as WRENCH's ``MajorityVoting`` is scored in published tables.

    The posterior is the vote share per class, uniform on uncovered rows; ties (uncovered
    rows included) are broken by ``snorkel.utils.probs_to_preds(tie_break_policy="random")``,
    i.e. by a sha1 of the row index in file order; every row is scored.

    Parameters
    ----------
    weak_labels : array-like of int, shape (n_rows, n_programs)
        The votes, in file order.
    labels : array-like of int, shape (n_rows,)
        Gold labels.
    n_classes : int

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``binary_f1`` (class 1, two classes only), ``n_scored``
        and ``coverage`` (fraction of rows with at least one vote).

    Raises
    ------
    ValueError
        If the votes are not a valid label matrix or the lengths differ.
    """
    L = check_label_matrix(weak_labels, n_classes)
    labels = np.asarray(labels)
    if labels.shape != (L.shape[0],):
        raise ValueError(f"expected labels of shape ({L.shape[0]},), one per row of the votes, got {labels.shape}")
    proba = MajorityVote(n_classes, uncovered="uniform").fit(L).predict_proba(L)
    preds = probs_to_preds(proba, tie_break="wrench")
    metrics = classification_metrics(labels, preds, n_classes)
    metrics["coverage"] = coverage(L)
    return metrics
