"""Synthetic label matrices with known program accuracies (like ``snorkel.synthetic``).

Programs are conditionally independent given the true class: each votes on a row with
probability ``coverage``; when it votes it is right with probability ``accuracy`` and
otherwise picks one of the wrong classes uniformly. Label-model tests use this to assert
that a model *recovers* the labels, not only that it returns the right shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from alchemist_core.programs.program_set import ABSTAIN


@dataclass(frozen=True)
class SyntheticVotes:
    """A synthetic label matrix and the truth behind it."""

    L: np.ndarray  # (n_rows, n_programs) int8, ABSTAIN = -1
    y: np.ndarray  # (n_rows,) int64 true classes
    accuracies: np.ndarray  # (n_programs,)
    coverages: np.ndarray  # (n_programs,)
    class_balance: np.ndarray  # (n_classes,)


def make_synthetic_votes(
    n_rows: int,
    accuracies: Sequence[float],
    coverages: Sequence[float],
    n_classes: int,
    *,
    class_balance: Sequence[float] | None = None,
    seed: int,
) -> SyntheticVotes:
    """Draw true classes and conditionally independent votes with the given accuracies.

    Parameters
    ----------
    n_rows : int
    accuracies : sequence of float
        Probability that each program's vote is right, one per program.
    coverages : sequence of float
        Probability that each program votes on a row, one per program.
    n_classes : int
    class_balance : sequence of float, optional
        Distribution of the true class; uniform by default.
    seed : int

    Returns
    -------
    SyntheticVotes

    Raises
    ------
    ValueError
        If ``accuracies`` and ``coverages`` differ in length or hold values outside [0, 1],
        or ``class_balance`` is not a distribution over ``n_classes`` classes.

    Examples
    --------
    >>> votes = make_synthetic_votes(1000, [0.9, 0.6], [1.0, 0.5], 2, seed=0)
    >>> votes.L.shape, votes.L.dtype.name
    ((1000, 2), 'int8')
    >>> bool(abs((votes.L[:, 0] == votes.y).mean() - 0.9) < 0.05)
    True
    """
    accuracies = np.asarray(accuracies, dtype=float)
    coverages = np.asarray(coverages, dtype=float)
    if accuracies.shape != coverages.shape or accuracies.ndim != 1:
        raise ValueError(
            f"expected one accuracy and one coverage per program, got {accuracies.shape} and {coverages.shape}"
        )
    for label, values in (("accuracies", accuracies), ("coverages", coverages)):
        if np.any((values < 0) | (values > 1)):
            raise ValueError(f"expected {label} in [0, 1], got {values.tolist()}")
    if n_classes < 2:
        raise ValueError(f"expected n_classes >= 2, got {n_classes}")
    balance = np.full(n_classes, 1.0 / n_classes) if class_balance is None else np.asarray(class_balance, float)
    if balance.shape != (n_classes,) or np.any(balance < 0) or not np.isclose(balance.sum(), 1.0):
        raise ValueError(f"expected class_balance to be {n_classes} probabilities summing to 1, got {class_balance}")

    rng = np.random.default_rng(seed)
    n_programs = len(accuracies)
    y = rng.choice(n_classes, size=n_rows, p=balance)
    votes = rng.random((n_rows, n_programs)) < coverages  # (n_rows, n_programs)
    right = rng.random((n_rows, n_programs)) < accuracies
    # A wrong vote is y + s (mod k) with s uniform in 1..k-1: uniform over the wrong classes.
    shift = rng.integers(1, n_classes, size=(n_rows, n_programs))
    labels = np.where(right, y[:, None], (y[:, None] + shift) % n_classes)
    L = np.where(votes, labels, ABSTAIN).astype(np.int8)
    return SyntheticVotes(L=L, y=y.astype(np.int64), accuracies=accuracies, coverages=coverages, class_balance=balance)
