"""Seeded draws of rows and folds: the one copy of each draw that the stages share.

The same seed gives the same rows wherever a draw is made, so separate stages can pick the
same rows without passing them around: the label model's fit sample
(:class:`~alchemist_core.labelmodel.aggregate.SnorkelLabelModel`) and the sample of vote shards that
:func:`~alchemist_core.programs.vote_shards.sample_label_matrix` reads are one draw.

``seed`` is an int or a :class:`numpy.random.Generator`. An int starts a fresh generator; a
generator is drawn from, and advanced, so that a caller's later draws from it follow on.

Examples
--------
>>> sample_rows(10, 20, seed=0) is None
True
>>> sample_positions(10, 3, seed=0).tolist() == sorted(sample_positions(10, 3, seed=0).tolist())
True
>>> np.bincount(stratified_folds([0, 0, 0, 1, 1, 1], 3, seed=0)).tolist()
[2, 2, 2]
"""

from __future__ import annotations

from typing import Any

import numpy as np

Seed = int | np.random.Generator


def sample_positions(n_rows: int, size: int, seed: Seed) -> np.ndarray:
    """Sorted positions of ``size`` distinct rows of ``range(n_rows)``, drawn uniformly.

    It always draws, even when ``size == n_rows`` (the result is then every row, and a
    generator passed as ``seed`` is advanced all the same).

    Raises
    ------
    ValueError
        When ``size`` is larger than ``n_rows`` or negative.
    """
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))


def sample_rows(n_rows: int, max_rows: int, seed: Seed) -> np.ndarray | None:
    """Sorted positions of a seeded sample of ``max_rows`` of ``n_rows`` rows; ``None`` when all fit.

    When all rows fit nothing is drawn. The draw is :func:`sample_positions`, so the label
    model fitting on a matrix of ``n_rows`` rows and a reader sampling vote shards that hold
    ``n_rows`` rows in all pick the same rows for the same seed.

    Raises
    ------
    ValueError
        When ``max_rows`` is less than 1.
    """
    if max_rows < 1:
        raise ValueError(f"expected max_rows >= 1, got {max_rows}")
    if n_rows <= max_rows:
        return None
    return sample_positions(n_rows, max_rows, seed)


def stratified_folds(y: Any, n_folds: int, *, seed: Seed, carry_over: bool = True) -> np.ndarray:
    """A fold index per row, each class's rows dealt over the folds in a seeded random order.

    Every distinct value of ``y`` is a class (``-1`` too), taken in sorted order, and each
    class's rows are shuffled with one ``permutation`` draw.

    Parameters
    ----------
    y : array-like of int
    n_folds : int
        At least 2.
    seed : int or numpy.random.Generator
    carry_over : bool
        True: the dealing continues across classes (a class's first row goes to the fold after
        the previous class's last), so small classes do not all land in fold 0 and the folds
        differ in size by at most one. False: each class is dealt from fold 0, the row at
        position ``i`` of the class getting fold ``permutation[i] % n_folds``; the offline
        generator's folds are drawn so.

    Raises
    ------
    ValueError
        When ``n_folds`` is less than 2.
    """
    if n_folds < 2:
        raise ValueError(f"expected n_folds >= 2, got {n_folds}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    offset = 0
    for value in np.unique(y):
        members = np.flatnonzero(y == value)
        order = rng.permutation(len(members))
        if carry_over:
            folds[members[order]] = (np.arange(len(members)) + offset) % n_folds
            offset += len(members)
        else:
            folds[members] = order % n_folds
    return folds
