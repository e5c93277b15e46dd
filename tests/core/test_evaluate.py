import numpy as np
import pytest

from alchemist_core.report.metrics import (
    accuracy,
    binary_f1,
    classification_metrics,
    macro_f1,
)


def test_accuracy_ignores_unknown_gold():
    assert accuracy([0, 1, -1, -1], [0, 0, 1, 1]) == 0.5


def test_abstaining_prediction_counts_as_wrong():
    assert accuracy([0, 1], [0, -1]) == 0.5
    # -1 is not a class: class 1's recall drops, no F1 is computed for "-1".
    assert macro_f1([0, 1], [0, -1]) == pytest.approx((1.0 + 0.0) / 2)


def test_binary_f1_by_hand():
    # positive class 1: tp = 2, fp = 1, fn = 1 -> precision = recall = 2/3.
    y_true = [1, 1, 1, 0, 0, -1]
    y_pred = [1, 1, 0, 1, 0, 1]
    assert binary_f1(y_true, y_pred) == pytest.approx(2 / 3)
    # class 0 as positive: tp = 1, fp = 1, fn = 1.
    assert binary_f1(y_true, y_pred, positive=0) == pytest.approx(0.5)


def test_macro_f1_by_hand():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 2, 2, 2]
    f1_class = [1.0, 2 * 1 * 0.5 / 1.5, 2 * (2 / 3) * 1 / (2 / 3 + 1)]
    assert macro_f1(y_true, y_pred) == pytest.approx(np.mean(f1_class))


def test_classification_metrics_keys_by_number_of_classes():
    binary = classification_metrics([0, 1, 1, -1], [0, 1, 0, 1], n_classes=2)
    assert set(binary) == {"accuracy", "macro_f1", "binary_f1", "n_scored"}
    assert binary["n_scored"] == 3 and binary["accuracy"] == pytest.approx(2 / 3)
    multi = classification_metrics([0, 1, 2], [0, 1, 1], n_classes=3)
    assert set(multi) == {"accuracy", "macro_f1", "n_scored"}


def test_length_mismatch_says_both_lengths():
    with pytest.raises(ValueError, match="y_true has 3 rows and y_pred has 2"):
        accuracy([0, 1, 1], [0, 1])


def test_no_known_gold_is_an_error():
    with pytest.raises(ValueError, match="at least one row with a known gold label"):
        classification_metrics([-1, -1], [0, 1], n_classes=2)
