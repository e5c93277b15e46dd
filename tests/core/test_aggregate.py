import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError

from alchemist_core.labelmodel.aggregate import (
    LABEL_MODELS,
    LabelModel,
    MajorityVote,
    SnorkelLabelModel,
    WeightedVote,
    estimate_class_balance,
    make_label_model,
    probs_to_preds,
)
from alchemist_core.labelmodel.synthetic import make_synthetic_votes
from alchemist_core.report.metrics import accuracy

# Two strong programs and three near-chance ones: counting every vote once is hurt by the
# weak ones, a model that learns accuracies is not.
ACCURACIES = [0.9, 0.85, 0.6, 0.55, 0.55]
COVERAGES = [0.7] * 5
FAST_SNORKEL = {"n_epochs": 100}


def _fit(name, L, n_classes, **params):
    if name == "snorkel":
        params = {**FAST_SNORKEL, **params}
    return make_label_model(name, n_classes, seed=0, **params).fit(L)


def _accuracy(model, votes):
    return accuracy(votes.y, probs_to_preds(model.predict_proba(votes.L), tie_break="wrench"))


def _wrench_majority_reference(L, n_classes):
    """WRENCH's MajorityVoting.predict_proba, row by row as it is written there."""
    out = np.zeros((len(L), n_classes))
    for i, row in enumerate(L):
        counts = np.zeros(n_classes)
        for vote in row:
            if vote != -1:
                counts[vote] += 1
        if counts.sum() == 0:
            counts += 1
        out[i] = counts / counts.sum()
    return out


@pytest.fixture(scope="module")
def snorkel_fitted():
    votes = make_synthetic_votes(1000, ACCURACIES, COVERAGES, 3, seed=7)
    return votes, _fit("snorkel", votes.L, 3)


# --- every model ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LABEL_MODELS))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_each_model_recovers_labels_better_than_chance(name, n_classes):
    votes = make_synthetic_votes(2000, ACCURACIES, COVERAGES, n_classes, seed=1)
    model = _fit(name, votes.L, n_classes)
    assert isinstance(model, LabelModel)
    # Chance is 1 / n_classes; one good program alone gets about 0.7 * 0.9 + 0.3 / n_classes.
    assert _accuracy(model, votes) > 0.75


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_snorkel_and_weighted_beat_majority_on_independent_programs(seed):
    votes = make_synthetic_votes(2000, ACCURACIES, COVERAGES, 2, seed=seed)
    majority = _accuracy(_fit("majority", votes.L, 2), votes)
    assert _accuracy(_fit("snorkel", votes.L, 2), votes) >= majority + 0.03
    assert _accuracy(_fit("weighted", votes.L, 2), votes) >= majority + 0.03


@pytest.mark.parametrize("name", sorted(LABEL_MODELS))
def test_predicting_before_fit_is_an_error(name):
    with pytest.raises(NotFittedError, match="call fit"):
        make_label_model(name, 2, seed=0).predict_proba(np.zeros((2, 3), dtype=np.int8))


@pytest.mark.parametrize("name", sorted(LABEL_MODELS))
def test_predict_checks_the_number_of_programs(name):
    votes = make_synthetic_votes(200, ACCURACIES, COVERAGES, 2, seed=0)
    model = _fit(name, votes.L, 2)
    with pytest.raises(ValueError, match="with 5 programs"):
        model.predict_proba(votes.L[:, :4])


@settings(max_examples=60, deadline=None)
@given(
    L=arrays(np.int8, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=st.integers(-1, 2)),
    name=st.sampled_from(["majority", "weighted"]),
    uncovered=st.sampled_from(["uniform", "prior"]),
)
def test_posterior_rows_sum_to_one(L, name, uncovered):
    proba = make_label_model(name, 3, seed=0, uncovered=uncovered).fit(L).predict_proba(L)
    assert proba.shape == (len(L), 3)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@settings(max_examples=40, deadline=None)
@given(L=arrays(np.int8, st.tuples(st.integers(1, 40), st.just(5)), elements=st.integers(-1, 2)))
def test_snorkel_posterior_rows_sum_to_one(snorkel_fitted, L):
    proba = snorkel_fitted[1].predict_proba(L)
    assert np.all(np.isfinite(proba)) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


# --- majority vote -------------------------------------------------------------------------


def test_majority_vote_matches_wrench_row_loop():
    rng = np.random.default_rng(3)
    L = rng.integers(-1, 4, size=(300, 7)).astype(np.int8)
    L[:20] = -1  # some uncovered rows
    proba = MajorityVote(4).fit(L).predict_proba(L)
    np.testing.assert_allclose(proba, _wrench_majority_reference(L, 4))


def test_majority_vote_uncovered_rows_get_the_prior_when_asked():
    L = np.array([[0, 0], [0, -1], [1, -1], [-1, -1]], dtype=np.int8)
    model = MajorityVote(2, uncovered="prior").fit(L)
    # Vote shares over covered rows: 2 for class 0, 1 for class 1; plus 1 each.
    np.testing.assert_allclose(model.class_balance_, [3 / 5, 2 / 5])
    np.testing.assert_allclose(model.predict_proba(L)[3], model.class_balance_)
    np.testing.assert_allclose(MajorityVote(2).fit(L).predict_proba(L)[3], [0.5, 0.5])


def test_dev_labels_set_the_prior_instead_of_the_votes():
    L = np.array([[0, 0], [0, -1], [-1, -1]], dtype=np.int8)
    model = MajorityVote(2, uncovered="prior").fit(L, L_dev=L, y_dev=np.array([1, 1, 1]))
    np.testing.assert_allclose(model.class_balance_, [1 / 5, 4 / 5])
    with pytest.raises(ValueError, match="both L_dev and y_dev"):
        MajorityVote(2).fit(L, L_dev=L)


def test_bad_uncovered_option_is_an_error():
    with pytest.raises(ValueError, match="'uniform' or 'prior'"):
        MajorityVote(2, uncovered="zero").fit(np.zeros((2, 2), dtype=np.int8))


def test_estimate_class_balance_needs_no_gold():
    votes = make_synthetic_votes(5000, [0.95] * 3, [0.8] * 3, 2, class_balance=[0.8, 0.2], seed=0)
    np.testing.assert_allclose(estimate_class_balance(votes.L, 2), [0.8, 0.2], atol=0.05)


# --- weighted vote -------------------------------------------------------------------------


def test_weighted_vote_ranks_programs_by_accuracy_without_gold():
    votes = make_synthetic_votes(3000, ACCURACIES, COVERAGES, 2, seed=4)
    model = WeightedVote(2).fit(votes.L)
    assert model.weights_[0] > model.weights_[2] and model.weights_[1] > model.weights_[3]
    assert np.all(model.weights_ >= 0)


def test_weighted_vote_uses_a_dev_set_when_given():
    votes = make_synthetic_votes(3000, [0.95, 0.9, 0.3], [0.8, 0.8, 0.8], 2, seed=5)
    dev = make_synthetic_votes(300, [0.95, 0.9, 0.3], [0.8, 0.8, 0.8], 2, seed=6)
    model = WeightedVote(2).fit(votes.L, dev.L, dev.y)
    # The third program is worse than chance on the dev set: it is ignored, not inverted.
    assert model.weights_[2] == 0.0
    assert model.program_accuracies_[0] == pytest.approx(0.95, abs=0.04)


def test_weighted_vote_rejects_bad_prior():
    with pytest.raises(ValueError, match="prior_accuracy"):
        WeightedVote(2, prior_accuracy=1.5).fit(np.zeros((2, 2), dtype=np.int8))


# --- snorkel -------------------------------------------------------------------------------


def test_snorkel_posterior_equals_snorkels_own_predict_proba(snorkel_fitted):
    votes, model = snorkel_fitted
    expected = model.model_.predict_proba(votes.L.astype(np.int64))
    np.testing.assert_allclose(model.predict_proba(votes.L), expected, atol=1e-6)


def test_snorkel_chunked_prediction_equals_unchunked(snorkel_fitted):
    votes, model = snorkel_fitted
    whole = model.predict_proba(votes.L)
    model.chunk_rows = 7
    try:
        np.testing.assert_array_equal(model.predict_proba(votes.L), whole)
    finally:
        model.chunk_rows = 100_000


def test_snorkel_same_seed_same_output_and_sample_bound():
    votes = make_synthetic_votes(600, ACCURACIES, COVERAGES, 2, seed=2)
    first = SnorkelLabelModel(2, seed=11, max_fit_rows=300, **FAST_SNORKEL).fit(votes.L)
    second = SnorkelLabelModel(2, seed=11, max_fit_rows=300, **FAST_SNORKEL).fit(votes.L)
    assert first.n_fit_rows_ == 300
    np.testing.assert_array_equal(first.predict_proba(votes.L), second.predict_proba(votes.L))


def test_snorkel_keeps_all_rows_when_fewer_than_the_bound():
    votes = make_synthetic_votes(400, ACCURACIES, COVERAGES, 2, seed=2)
    sampled = SnorkelLabelModel(2, seed=3, max_fit_rows=400, **FAST_SNORKEL).fit(votes.L)
    whole = SnorkelLabelModel(2, seed=3, max_fit_rows=10_000, **FAST_SNORKEL).fit(votes.L)
    assert sampled.n_fit_rows_ == whole.n_fit_rows_ == 400
    np.testing.assert_array_equal(sampled.predict_proba(votes.L), whole.predict_proba(votes.L))


def test_snorkel_sampled_fit_stays_close_to_the_full_fit():
    votes = make_synthetic_votes(4000, ACCURACIES, COVERAGES, 2, seed=8)
    full = _fit("snorkel", votes.L, 2)
    sampled = _fit("snorkel", votes.L, 2, max_fit_rows=2000)
    agreement = (probs_to_preds(full.predict_proba(votes.L)) == probs_to_preds(sampled.predict_proba(votes.L))).mean()
    assert agreement > 0.97


def test_snorkel_class_balance_options():
    votes = make_synthetic_votes(500, ACCURACIES, COVERAGES, 2, class_balance=[0.7, 0.3], seed=0)
    assert _fit("snorkel", votes.L, 2, class_balance="uniform").class_balance_.tolist() == [0.5, 0.5]
    np.testing.assert_allclose(_fit("snorkel", votes.L, 2, class_balance=[3, 1]).class_balance_, [0.75, 0.25])
    estimated = _fit("snorkel", votes.L, 2).class_balance_
    assert estimated[0] > 0.55
    from_dev = SnorkelLabelModel(2, **FAST_SNORKEL).fit(votes.L, votes.L[:10], np.zeros(10, dtype=int))
    np.testing.assert_allclose(from_dev.class_balance_, [11 / 12, 1 / 12])
    with pytest.raises(ValueError, match="2 positive floats"):
        _fit("snorkel", votes.L, 2, class_balance=[1, 0])


def test_snorkel_needs_three_programs():
    with pytest.raises(ValueError, match="at least 3 programs, got 2"):
        SnorkelLabelModel(2).fit(np.zeros((5, 2), dtype=np.int8))


# --- registry and selection ----------------------------------------------------------------


def test_make_label_model_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown label model 'dawid'; expected one of \['majority', 'snorkel', 'weighted'\]"):
        make_label_model("dawid", 2, seed=0)
    with pytest.raises(ValueError, match=r"does not take \['n_epochs'\]"):
        make_label_model("majority", 2, seed=0, n_epochs=3)


def test_make_label_model_passes_seed_only_where_used():
    assert make_label_model("snorkel", 2, seed=42).seed == 42
    assert not hasattr(make_label_model("majority", 2, seed=42), "seed")


# --- probs_to_preds ------------------------------------------------------------------------


def test_probs_to_preds_policies():
    proba = np.array([[0.2, 0.8, 0.0], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5 - 1e-7, 0.0]])
    assert probs_to_preds(proba).tolist() == [1, 0, 0, 0]
    assert probs_to_preds(proba, tie_break="abstain").tolist() == [1, -1, -1, -1]
    wrench = probs_to_preds(proba, tie_break="wrench")
    for i, tied in ((1, [0, 1]), (2, [0, 1, 2]), (3, [0, 1])):
        expected = tied[int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % len(tied)]
        assert wrench[i] == expected
    with pytest.raises(ValueError, match="'lowest', 'wrench' or 'abstain'"):
        probs_to_preds(proba, tie_break="random")


@settings(max_examples=50, deadline=None)
@given(
    counts=arrays(np.int64, st.tuples(st.integers(1, 40), st.integers(2, 4)), elements=st.integers(0, 3)),
    offset=st.integers(0, 1000),
)
def test_wrench_tie_break_matches_snorkel(counts, offset):
    from snorkel.utils import probs_to_preds as snorkel_probs_to_preds

    # Vote-count posteriors: exact ties are common, as with majority vote.
    counts = counts.astype(float) + (counts.sum(axis=1, keepdims=True) == 0)
    proba = counts / counts.sum(axis=1, keepdims=True)
    expected = snorkel_probs_to_preds(proba, tie_break_policy="random")
    np.testing.assert_array_equal(probs_to_preds(proba, tie_break="wrench"), expected)
    # A chunk that starts at row `offset` breaks ties as the same rows of the whole would.
    padded = np.vstack([np.tile(proba[:1], (offset, 1)), proba])
    whole = snorkel_probs_to_preds(padded, tie_break_policy="random")[offset:]
    np.testing.assert_array_equal(probs_to_preds(proba, tie_break="wrench", row_offset=offset), whole)


def test_snorkel_fit_restores_torch_thread_count():
    import torch

    before = torch.get_num_threads()
    votes = make_synthetic_votes(200, ACCURACIES, COVERAGES, 2, seed=0)
    SnorkelLabelModel(2, torch_threads=before + 1, **FAST_SNORKEL).fit(votes.L)
    assert torch.get_num_threads() == before
