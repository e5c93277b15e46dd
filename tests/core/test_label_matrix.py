import numpy as np
import pytest

from alchemist_core.programs.label_matrix import (
    check_label_matrix,
    coverage,
    program_conflict,
    program_coverage,
    program_overlap,
    program_summary,
    vote_counts,
)

# Rows are read across; columns are programs a, b, c.
#        a   b   c
L = np.array(
    [
        [0, 0, -1],  # a, b agree
        [0, 1, -1],  # a, b conflict
        [1, -1, -1],  # a alone
        [-1, -1, -1],  # uncovered
        [-1, 1, 1],  # b, c agree
        [-1, -1, 0],  # c alone
    ],
    dtype=np.int8,
)
NAMES = ["a", "b", "c"]
GOLD = np.array([0, 1, 1, 0, -1, 1])  # row 4 has no known gold


def test_coverage_counts_rows_with_any_vote():
    assert coverage(L) == pytest.approx(5 / 6)


def test_program_coverage():
    np.testing.assert_allclose(program_coverage(L), [3 / 6, 3 / 6, 2 / 6])


def test_program_overlap():
    np.testing.assert_allclose(program_overlap(L), [2 / 6, 3 / 6, 1 / 6])


def test_program_conflict():
    np.testing.assert_allclose(program_conflict(L), [1 / 6, 1 / 6, 0.0])


def test_vote_counts():
    counts = vote_counts(L, 2)
    assert counts.tolist() == [[2, 0], [1, 1], [0, 1], [0, 0], [0, 2], [1, 0]]


def test_program_summary_with_partial_gold():
    summary = program_summary(L, NAMES, GOLD, n_classes=2)
    assert [s["name"] for s in summary] == NAMES
    a, b, c = summary
    assert a["polarity"] == [0, 1] and b["polarity"] == [0, 1] and c["polarity"] == [0, 1]
    # a votes rows 0, 1, 2 with gold 0, 1, 1: right on 0 and 2.
    assert (a["n_correct"], a["n_incorrect"], a["accuracy"]) == (2, 1, pytest.approx(2 / 3))
    # b votes rows 0, 1, 4; row 4's gold is unknown, so only rows 0 and 1 count.
    assert (b["n_correct"], b["n_incorrect"]) == (2, 0)
    # c votes rows 4 (unknown gold) and 5 (gold 1, vote 0).
    assert (c["n_correct"], c["n_incorrect"], c["accuracy"]) == (0, 1, 0.0)
    assert a["coverage"] == pytest.approx(0.5) and a["conflict"] == pytest.approx(1 / 6)


def test_program_summary_accuracy_is_none_without_scored_rows():
    summary = program_summary(L, NAMES, np.full(6, -1), n_classes=2)
    assert all(s["accuracy"] is None and s["n_correct"] == 0 for s in summary)


def test_program_summary_without_gold_has_no_accuracy():
    summary = program_summary(L, NAMES, n_classes=2)
    assert "accuracy" not in summary[0]
    assert summary[2]["polarity"] == [0, 1]


def test_polarity_lists_only_voted_classes():
    summary = program_summary(np.array([[2, -1], [2, 0]]), ["x", "y"], n_classes=3)
    assert summary[0]["polarity"] == [2] and summary[1]["polarity"] == [0]


def test_program_summary_checks_names_and_gold_lengths():
    with pytest.raises(ValueError, match="one name per program"):
        program_summary(L, ["a", "b"], n_classes=2)
    with pytest.raises(ValueError, match="one per row"):
        program_summary(L, NAMES, [0, 1], n_classes=2)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(3, dtype=np.int8), r"shape \(n_rows, n_programs\)"),
        (np.zeros((2, 2), dtype=float), "integer dtype"),
        (np.array([[0, 2]]), r"values in \{-1, \.\.\., 1\}.*got values in \[0, 2\]"),
        (np.array([[-2, 0]]), r"got values in \[-2, 0\]"),
    ],
)
def test_check_label_matrix_says_what_was_expected_and_what_arrived(bad, message):
    with pytest.raises(ValueError, match=message):
        check_label_matrix(bad, n_classes=2)


def test_check_label_matrix_accepts_valid_input():
    assert check_label_matrix(L, 2) is L
    assert check_label_matrix(np.empty((0, 3), dtype=np.int8), 2).shape == (0, 3)


def test_empty_matrix_summaries():
    empty = np.empty((0, 2), dtype=np.int8)
    assert coverage(empty) == 0.0
    assert program_coverage(empty).tolist() == [0.0, 0.0]
    assert program_conflict(empty).tolist() == [0.0, 0.0]


def test_summaries_match_snorkel_lf_analysis():
    from snorkel.labeling import LFAnalysis

    rng = np.random.default_rng(0)
    random_L = rng.integers(-1, 3, size=(200, 5))
    analysis = LFAnalysis(random_L)
    np.testing.assert_allclose(program_coverage(random_L), analysis.lf_coverages())
    np.testing.assert_allclose(program_overlap(random_L), analysis.lf_overlaps())
    np.testing.assert_allclose(program_conflict(random_L), analysis.lf_conflicts())
