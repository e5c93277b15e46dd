"""Classification metrics against gold labels, where gold is known.

Gold labels of -1 mean "unknown" and those rows are left out of every metric. A prediction of
-1 (an abstaining label model) is kept and counts as wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import f1_score

UNKNOWN = -1


def _scored(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays restricted to the rows whose gold label is known."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            f"expected one-dimensional label arrays, got shapes {y_true.shape} (y_true) and {y_pred.shape} (y_pred)"
        )
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must be the same length, but y_true has {len(y_true)} rows and y_pred has {len(y_pred)}"
        )
    known = y_true != UNKNOWN
    if not known.any():
        raise ValueError(
            f"expected at least one row with a known gold label, got {len(y_true)} rows that are all -1 (unknown)"
        )
    return y_true[known].astype(np.int64), y_pred[known].astype(np.int64)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of rows with known gold whose prediction equals it.

    Examples
    --------
    >>> accuracy([0, 1, 1, -1], [0, 0, 1, 1])
    0.6666666666666666
    """
    y_true, y_pred = _scored(y_true, y_pred)
    return float((y_true == y_pred).mean())


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """Unweighted mean of the per-class F1 over the classes seen in gold or predictions.

    Predictions of -1 are not a class: they only count as misses of their row's gold class.

    Examples
    --------
    >>> round(macro_f1([0, 0, 1, 1], [0, 1, 1, 1]), 4)
    0.7333
    """
    y_true, y_pred = _scored(y_true, y_pred)
    labels = sorted((set(y_true.tolist()) | set(y_pred.tolist())) - {UNKNOWN})
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def binary_f1(y_true: Any, y_pred: Any, positive: int = 1) -> float:
    """F1 of the ``positive`` class (WRENCH's binary F1 uses class 1).

    Examples
    --------
    >>> binary_f1([0, 0, 1, 1], [0, 1, 1, 1])
    0.8
    """
    y_true, y_pred = _scored(y_true, y_pred)
    return float(f1_score(y_true == positive, y_pred == positive, zero_division=0))


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, Any]:
    """Accuracy, macro F1 and (for two classes) binary F1 of class 1, over rows with known gold.

    Parameters
    ----------
    y_true : array-like of int, shape (n_rows,)
        Gold labels; -1 where unknown (those rows are left out).
    y_pred : array-like of int, shape (n_rows,)
        Predicted class indices; -1 counts as wrong.
    n_classes : int
        Number of classes; ``binary_f1`` is reported only when it is 2.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``binary_f1`` (binary tasks only) and ``n_scored``
        (rows with known gold).

    Raises
    ------
    ValueError
        If the arrays differ in length, or no row has a known gold label.

    Examples
    --------
    >>> classification_metrics([0, 1, 1, -1], [0, 1, 0, 0], n_classes=2)["n_scored"]
    3
    """
    y_true_scored, _ = _scored(y_true, y_pred)
    metrics: dict[str, Any] = {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
    }
    if n_classes == 2:
        metrics["binary_f1"] = binary_f1(y_true, y_pred, positive=1)
    metrics["n_scored"] = int(len(y_true_scored))
    return metrics
