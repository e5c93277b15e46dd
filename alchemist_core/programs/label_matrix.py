"""Summaries of the label matrix ``L``: coverage, overlap, conflict and accuracy per program.

``L`` is an integer array of shape ``(n_rows, n_programs)`` (int8 as stored) whose entries
are class indices ``0..n_classes-1`` or ``ABSTAIN`` (-1). Every function here is pure numpy
and vectorised: no Python loop over rows.

The definitions follow snorkel's ``LFAnalysis``: a program *overlaps* on a row where it votes
and at least one other program votes too, and *conflicts* on a row where it votes and at least
one other program votes a different class.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alchemist_core.programs.program_set import ABSTAIN


def check_label_matrix(L: Any, n_classes: int) -> np.ndarray:
    """Check that ``L`` is a label matrix for ``n_classes`` classes and return it as an array.

    Parameters
    ----------
    L : array-like of int, shape (n_rows, n_programs)
        Votes: class indices ``0..n_classes-1`` or ``ABSTAIN`` (-1).
    n_classes : int
        Number of classes, at least 2.

    Returns
    -------
    numpy.ndarray
        ``L`` as an integer array (not copied when it already is one).

    Raises
    ------
    ValueError
        If ``L`` is not two-dimensional, not of an integer dtype, or holds a value outside
        ``{-1, ..., n_classes - 1}``; or if ``n_classes`` is below 2.

    Examples
    --------
    >>> check_label_matrix([[0, -1], [1, 1]], n_classes=2).shape
    (2, 2)
    """
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"expected n_classes to be an int of at least 2, got {n_classes!r}")
    array = np.asarray(L)
    if array.ndim != 2:
        raise ValueError(
            f"expected a label matrix of shape (n_rows, n_programs), got an array of shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"expected a label matrix of an integer dtype (int8 as stored), got dtype {array.dtype}"
        )
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < ABSTAIN or high >= n_classes:
            bad = array[(array < ABSTAIN) | (array >= n_classes)]
            raise ValueError(
                f"expected label matrix values in {{{ABSTAIN}, ..., {n_classes - 1}}} "
                f"(ABSTAIN or a class index for {n_classes} classes), got values in [{low}, {high}], "
                f"e.g. {sorted(set(bad[:10].tolist()))}"
            )
    return array


def _as_matrix(L: Any) -> np.ndarray:
    array = np.asarray(L)
    if array.ndim != 2:
        raise ValueError(
            f"expected a label matrix of shape (n_rows, n_programs), got an array of shape {array.shape}"
        )
    return array


def _fraction(counts: np.ndarray, n_rows: int) -> np.ndarray:
    # An empty matrix has no coverage rather than an undefined one.
    return counts / n_rows if n_rows else np.zeros(counts.shape, dtype=float)


def coverage(L: Any) -> float:
    """Fraction of rows on which at least one program votes.

    Examples
    --------
    >>> coverage([[0, -1], [-1, -1], [1, 1], [-1, 0]])
    0.75
    """
    L = _as_matrix(L)
    if L.shape[0] == 0:
        return 0.0
    return float((L != ABSTAIN).any(axis=1).mean())


def program_coverage(L: Any) -> np.ndarray:
    """Fraction of rows each program votes on, shape ``(n_programs,)``.

    Examples
    --------
    >>> program_coverage([[0, -1], [-1, -1], [1, 1], [-1, 0]]).tolist()
    [0.5, 0.5]
    """
    L = _as_matrix(L)
    return _fraction((L != ABSTAIN).sum(axis=0), L.shape[0])


def program_overlap(L: Any) -> np.ndarray:
    """Fraction of rows on which each program votes and at least one other program votes too.

    Examples
    --------
    >>> program_overlap([[0, -1, -1], [1, 1, -1], [1, 0, 0]]).round(3).tolist()
    [0.667, 0.667, 0.333]
    """
    L = _as_matrix(L)
    voted = L != ABSTAIN  # (n_rows, n_programs)
    shared = voted.sum(axis=1) > 1  # (n_rows,)
    return _fraction((voted & shared[:, None]).sum(axis=0), L.shape[0])


def vote_counts(L: Any, n_classes: int) -> np.ndarray:
    """Number of votes for each class on each row, shape ``(n_rows, n_classes)``.

    ``L`` is assumed valid for ``n_classes`` (see :func:`check_label_matrix`).

    Examples
    --------
    >>> vote_counts([[0, 1, 1], [-1, -1, -1]], 2).tolist()
    [[1, 2], [0, 0]]
    """
    L = _as_matrix(L)
    rows, programs = np.nonzero(L != ABSTAIN)
    flat = rows * n_classes + L[rows, programs].astype(np.int64)
    return np.bincount(flat, minlength=L.shape[0] * n_classes).reshape(L.shape[0], n_classes)


def program_conflict(L: Any) -> np.ndarray:
    """Fraction of rows on which each program votes and another program votes a different class.

    Examples
    --------
    >>> program_conflict([[0, -1, -1], [1, 1, -1], [1, 0, 0]]).round(3).tolist()
    [0.333, 0.333, 0.333]
    """
    L = _as_matrix(L)
    n_rows = L.shape[0]
    if L.size == 0:
        return np.zeros(L.shape[1], dtype=float)
    n_classes = max(int(L.max()) + 1, 1)
    voted = L != ABSTAIN
    counts = vote_counts(L, n_classes)  # (n_rows, n_classes)
    n_votes = counts.sum(axis=1)  # (n_rows,)
    # Votes on the row for the same class as program j (itself included).
    same = np.take_along_axis(counts, np.where(voted, L, 0).astype(np.intp), axis=1)  # (n_rows, n_programs)
    conflicted = voted & (n_votes[:, None] - same > 0)
    return _fraction(conflicted.sum(axis=0), n_rows)


def program_summary(
    L: Any,
    names: Sequence[str],
    y: Any = None,
    *,
    n_classes: int,
) -> list[dict[str, Any]]:
    """One dict per program: polarity, coverage, overlap, conflict and, given gold, accuracy.

    Parameters
    ----------
    L : array-like of int, shape (n_rows, n_programs)
        Votes.
    names : sequence of str
        Program names, one per column of ``L``.
    y : array-like of int, shape (n_rows,), optional
        Gold labels where known, -1 where unknown.
    n_classes : int
        Number of classes.

    Returns
    -------
    list of dict
        Per program, in column order: ``name``, ``polarity`` (sorted classes it votes),
        ``coverage``, ``overlap``, ``conflict``; and where ``y`` is given, ``n_correct`` and
        ``n_incorrect`` (over rows it votes on whose gold is known) and ``accuracy``
        (their ratio, ``None`` when it votes on no such row).

    Raises
    ------
    ValueError
        If ``L`` is not a valid label matrix, ``names`` does not have one name per program,
        or ``y`` does not have one label per row.

    Examples
    --------
    >>> rows = program_summary([[0, 1], [0, -1], [1, 1]], ["a", "b"], [0, 1, -1], n_classes=2)
    >>> rows[0]["polarity"], rows[0]["n_correct"], rows[0]["n_incorrect"], rows[0]["accuracy"]
    ([0, 1], 1, 1, 0.5)
    """
    L = check_label_matrix(L, n_classes)
    names = list(names)
    if len(names) != L.shape[1]:
        raise ValueError(
            f"expected one name per program ({L.shape[1]} programs), got {len(names)} names"
        )
    voted = L != ABSTAIN
    # (n_programs, n_classes): which classes each program ever votes.
    polarity = np.zeros((L.shape[1], n_classes), dtype=bool)
    rows, programs = np.nonzero(voted)
    polarity[programs, L[rows, programs]] = True
    columns = {
        "coverage": program_coverage(L),
        "overlap": program_overlap(L),
        "conflict": program_conflict(L),
    }
    if y is not None:
        y = np.asarray(y)
        if y.shape != (L.shape[0],):
            raise ValueError(
                f"expected gold labels of shape ({L.shape[0]},), one per row of L, got shape {y.shape}"
            )
        known = voted & (y != -1)[:, None]
        correct = known & (L == y[:, None])
        n_correct = correct.sum(axis=0)
        n_incorrect = known.sum(axis=0) - n_correct
    summary = []
    for j, name in enumerate(names):
        entry: dict[str, Any] = {
            "name": name,
            "polarity": np.flatnonzero(polarity[j]).tolist(),
            **{key: float(values[j]) for key, values in columns.items()},
        }
        if y is not None:
            n_scored = int(n_correct[j] + n_incorrect[j])
            entry["n_correct"] = int(n_correct[j])
            entry["n_incorrect"] = int(n_incorrect[j])
            entry["accuracy"] = float(n_correct[j] / n_scored) if n_scored else None
        summary.append(entry)
    return summary
