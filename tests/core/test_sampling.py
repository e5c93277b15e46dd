"""The shared seeded draws pick exactly the rows and folds each stage picked with its own copy.

The reference functions below are the formulas the stages used before they shared
:mod:`alchemist_core.sampling`; the runs' rows, and so every published number, depend on the
draws staying the same.
"""

import numpy as np
import pytest

from alchemist_core.sampling import sample_positions, sample_rows, stratified_folds

SIZES = [(1, 1), (5, 5), (10, 3), (100, 99), (1000, 37), (20_000, 500), (50_000, 49_999)]
SEEDS = [0, 1, 7, 42, 2**31 - 1]


def _fit_sample_reference(n_rows, max_rows, seed):
    # SnorkelLabelModel.fit and votes.sample_rows
    rng = np.random.default_rng(seed)
    if n_rows > max_rows:
        return np.sort(rng.choice(n_rows, size=max_rows, replace=False))
    return None


def _sorted_sample_reference(n_rows, size, rng):
    # runs (curation sample), training (holdout), generate and image_pipeline (generator context)
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def _round_robin_folds_reference(y, n_folds, seed):
    # aggregate.stratified_folds
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    offset = 0
    for value in np.unique(y):
        members = np.flatnonzero(y == value)
        folds[members[rng.permutation(len(members))]] = (np.arange(len(members)) + offset) % n_folds
        offset += len(members)
    return folds


def _per_class_folds_reference(labels, n_folds, rng):
    # generators.offline_mining._stratified_folds
    fold = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        fold[members] = rng.permutation(len(members)) % n_folds
    return fold


@pytest.mark.parametrize("n_rows, size", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sample_rows_is_the_fit_sample(n_rows, size, seed):
    for max_rows in (size, max(1, size // 2), n_rows + 1):
        got, expected = sample_rows(n_rows, max_rows, seed), _fit_sample_reference(n_rows, max_rows, seed)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert np.array_equal(got, expected)


@pytest.mark.parametrize("n_rows, size", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sample_positions_is_the_sorted_sample_and_leaves_the_generator_where_it_did(n_rows, size, seed):
    assert np.array_equal(sample_positions(n_rows, size, seed), _sorted_sample_reference(n_rows, size, np.random.default_rng(seed)))
    # A shared generator: two draws in a row, then whatever the caller draws next.
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(2):
        assert np.array_equal(sample_positions(n_rows, size, ours), _sorted_sample_reference(n_rows, size, theirs))
    assert ours.integers(0, 2**62) == theirs.integers(0, 2**62)


def test_sample_rows_draws_nothing_when_every_row_fits():
    rng, untouched = np.random.default_rng(3), np.random.default_rng(3)
    assert sample_rows(10, 10, rng) is None
    assert rng.integers(0, 2**62) == untouched.integers(0, 2**62)
    with pytest.raises(ValueError, match="max_rows >= 1"):
        sample_rows(10, 0, 0)


def _labels(seed, n_rows, n_classes, with_unlabeled):
    rng = np.random.default_rng(1000 + seed)
    y = rng.integers(-1 if with_unlabeled else 0, n_classes, size=n_rows)
    return y


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_rows, n_classes, n_folds", [(0, 2, 3), (6, 2, 3), (17, 3, 5), (200, 6, 5), (1001, 2, 4)])
def test_stratified_folds_keep_both_dealings(seed, n_rows, n_classes, n_folds):
    for with_unlabeled in (False, True):
        y = _labels(seed, n_rows, n_classes, with_unlabeled)
        assert np.array_equal(stratified_folds(y, n_folds, seed=seed), _round_robin_folds_reference(y, n_folds, seed))
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        assert np.array_equal(
            stratified_folds(y, n_folds, seed=ours, carry_over=False), _per_class_folds_reference(y, n_folds, theirs)
        )
        assert ours.integers(0, 2**62) == theirs.integers(0, 2**62)


def test_stratified_folds_spread_every_class():
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    folds = stratified_folds(y, 5, seed=0)
    assert np.array_equal(folds, stratified_folds(y, 5, seed=0))
    for c in (0, 1):
        assert np.bincount(folds[y == c], minlength=5).tolist() == [len(y[y == c]) // 5] * 5
    assert len(set(folds[y == 2].tolist())) == 2
    with pytest.raises(ValueError, match="n_folds >= 2"):
        stratified_folds(y, 1, seed=0)
