import doctest

import numpy as np
import pytest

from alchemist_core.programs import curate
from alchemist_core.programs.curate import CurationResult, curate_programs

_ = -1  # ABSTAIN, to keep the matrices readable

# 10 sample rows; one column per program.
SAMPLE = {
    "good": [0, 1, 0, 1, _, _, 0, 1, _, _],
    "silent": [_] * 10,
    "rare": [_, _, _, _, _, _, _, _, _, 1],
    "constant": [1] * 10,
    "one_class_half": [1, 1, 1, 1, 1, _, _, _, _, _],
    "two_classes_everywhere": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
    "copy_of_good": [0, 1, 0, 1, _, _, 0, 1, _, _],
    "near_good": [0, 1, 0, 1, _, 0, 0, 1, _, _],  # disagrees on 1 of the 7 rows where either votes
}


def _matrix(columns: dict[str, list[int]]) -> tuple[np.ndarray, list[str]]:
    names = list(columns)
    return np.array([columns[n] for n in names], dtype=np.int8).T, names


def test_drops_exactly_the_right_programs():
    L, names = _matrix(SAMPLE)
    result = curate_programs(L, names, n_classes=2, min_coverage=0.15)

    assert isinstance(result, CurationResult)
    assert result.keep == ("good", "one_class_half", "two_classes_everywhere", "near_good")
    reasons = result.reasons
    assert list(reasons) == ["silent", "rare", "constant", "copy_of_good"]
    assert reasons["silent"] == "never votes on the 10 sample rows"
    assert "votes on 1 of 10 sample rows" in reasons["rare"] and "min_coverage 0.15" in reasons["rare"]
    assert reasons["constant"] == "constant: votes class 1 on 100.0% of the sample rows"
    assert reasons["copy_of_good"] == "duplicate of 'good': agrees on 100.0% of the 6 sample rows where either votes"


def test_duplicate_agreement_threshold_and_first_is_kept():
    L, names = _matrix({"near_good": SAMPLE["near_good"], "good": SAMPLE["good"]})
    # 6 of the 7 rows where either votes agree: 0.857.
    assert curate_programs(L, names, n_classes=2).keep == ("near_good", "good")
    lenient = curate_programs(L, names, n_classes=2, duplicate_agreement=0.85)
    assert lenient.keep == ("near_good",)
    assert lenient.reasons["good"].startswith("duplicate of 'near_good': agrees on 85.7% of the 7 sample rows")


def test_few_shared_votes_are_not_called_duplicates_but_equal_digests_are():
    L, names = _matrix({"a": [1, 1, _, _, _, _], "b": [1, 1, _, _, _, _], "c": [0, _, _, 0, 0, 0]})
    assert curate_programs(L, names, n_classes=2).keep == ("a", "b", "c")
    result = curate_programs(L, names, n_classes=2, digests=["d1", "d2", "d1"])
    assert result.keep == ("a", "b")
    assert result.reasons == {"c": "duplicate of 'a': same source digest"}


def test_below_chance_needs_labels_and_enough_support():
    y = np.array([0, 1] * 20)  # 40 labeled rows
    wrong = np.where(np.arange(40) < 30, 1 - y, _)  # wrong on all 30 it votes on
    unlucky = np.where(np.arange(40) < 2, 1 - y, _)  # wrong on its only 2 votes
    decent = np.where(np.arange(40) % 10 < 7, y, 1 - y)  # right on 70%
    L_labeled = np.stack([wrong, unlucky, decent], axis=1).astype(np.int8)
    L_sample = np.array([[1, 0, 0], [0, _, 1], [1, 1, 0], [0, _, 1], [1, 0, 1], [0, _, 0]], dtype=np.int8)
    names = ["wrong", "unlucky", "decent"]

    assert curate_programs(L_sample, names, n_classes=2).keep == ("wrong", "unlucky", "decent")
    result = curate_programs(L_sample, names, n_classes=2, L_labeled=L_labeled, y_labeled=y)
    assert result.keep == ("unlucky", "decent")
    assert result.reasons["wrong"].startswith("below chance on the labeled rows: right on 0 of the 30 it votes on")


def test_below_chance_is_relative_to_the_number_of_classes():
    y = np.array([0, 1, 2] * 10)
    # Right on 3 of 30 (0.10): far below 1/3 for three classes.
    poor = np.where(np.arange(30) < 3, y, (y + 1) % 3)
    # Right on 9 of 30 (0.30): below 1/3, but not significantly.
    weak = np.where(np.arange(30) < 9, y, (y + 1) % 3)
    L_labeled = np.stack([poor, weak], axis=1).astype(np.int8)
    L_sample = np.array([[0, 1], [1, 2], [2, 0], [0, 0], [1, 1]], dtype=np.int8)
    result = curate_programs(L_sample, ["poor", "weak"], n_classes=3, L_labeled=L_labeled, y_labeled=y)
    assert result.keep == ("weak",)
    assert "(0.10 < 1/3" in result.reasons["poor"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["a"]}, "expected 2 program names"),
        ({"names": ["a", "a"]}, r"repeated: \['a'\]"),
        ({"L_labeled": np.zeros((3, 2), dtype=np.int8)}, "give both L_labeled and y_labeled"),
        ({"L_labeled": np.zeros((3, 2), dtype=np.int8), "y_labeled": [0, 1]}, "one class per row"),
        ({"L_labeled": np.zeros((2, 3), dtype=np.int8), "y_labeled": [0, 1]}, "L_labeled has 3 programs"),
        ({"L_labeled": np.zeros((2, 2), dtype=np.int8), "y_labeled": [0, 5]}, "class indices in 0..1"),
        ({"digests": ["x"]}, "one digest per program"),
        ({"min_coverage": 1.5}, "min_coverage must be in"),
        ({"duplicate_agreement": 0.0}, "duplicate_agreement must be in"),
    ],
)
def test_bad_input(kwargs, message):
    arguments = {"names": ["a", "b"], **kwargs}
    with pytest.raises(ValueError, match=message):
        curate_programs(np.array([[0, 1], [1, _]], dtype=np.int8), n_classes=2, **arguments)


def test_votes_out_of_range_are_refused():
    with pytest.raises(ValueError):
        curate_programs(np.array([[0, 2]], dtype=np.int8), ["a", "b"], n_classes=2)


def test_doctests():
    assert doctest.testmod(curate).failed == 0
