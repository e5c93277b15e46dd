"""Acceptance: WRENCH's majority-vote numbers on the real WRENCH files, reproduced exactly.

Expected values are WRENCH ``MajorityVoting`` test metrics with the original human programs'
weak labels; they equal the published SprocketLab logs (see shared/data/README.md).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from alchemist_core.errors import InputError
from alchemist_core.labelmodel.aggregate import SnorkelLabelModel, probs_to_preds
from alchemist_core.report.metrics import classification_metrics
from tests.core.wrench_protocol import read_wrench_split, wrench_majority_vote_metrics

WRENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wrench"

needs_wrench = pytest.mark.skipif(
    not WRENCH.is_dir(), reason=f"WRENCH data not found at {WRENCH} (shared/data is absent)"
)


@pytest.mark.shared_data
@needs_wrench
@pytest.mark.parametrize(
    "dataset, n_classes, expected_accuracy, expected_binary_f1",
    [
        ("youtube", 2, 0.8400, 0.8077),
        ("sms", 2, 0.6320, 0.2397),
        ("trec", 6, 0.6080, None),
    ],
)
def test_wrench_majority_vote_reproduces_published_test_metrics(
    dataset, n_classes, expected_accuracy, expected_binary_f1
):
    ids, rows, labels, weak_labels = read_wrench_split(WRENCH / dataset / "test.json")
    metrics = wrench_majority_vote_metrics(weak_labels, labels, n_classes)
    assert metrics["n_scored"] == len(ids)
    assert metrics["accuracy"] == pytest.approx(expected_accuracy, abs=5e-5)
    if expected_binary_f1 is None:
        assert "binary_f1" not in metrics
    else:
        assert metrics["binary_f1"] == pytest.approx(expected_binary_f1, abs=5e-5)


@pytest.mark.shared_data
@needs_wrench
def test_read_wrench_split_keeps_file_order():
    ids, rows, labels, weak_labels = read_wrench_split(WRENCH / "youtube" / "test.json")
    assert ids[:3] == ["0", "1", "2"] and len(ids) == 250
    assert weak_labels.shape == (250, 10) and weak_labels.dtype == np.int8
    raw = json.loads((WRENCH / "youtube" / "test.json").read_text(encoding="utf-8"))
    last = raw[ids[-1]]
    assert rows[-1] == last["data"] and labels[-1] == last["label"]
    assert weak_labels[-1].tolist() == last["weak_labels"]


@pytest.mark.shared_data
@needs_wrench
@pytest.mark.slow
def test_snorkel_on_youtube_train_weak_labels(capsys):
    _, _, _, L_train = read_wrench_split(WRENCH / "youtube" / "train.json")
    _, _, y_test, L_test = read_wrench_split(WRENCH / "youtube" / "test.json")
    model = SnorkelLabelModel(2, seed=0).fit(L_train)
    preds = probs_to_preds(model.predict_proba(L_test), tie_break="wrench")
    metrics = classification_metrics(y_test, preds, 2)
    with capsys.disabled():
        print(f"\nSnorkelLabelModel on youtube (fit on train weak labels), test: {metrics}")
    assert metrics["accuracy"] > 0.6


def test_read_wrench_split_small_file_and_missing_label(tmp_path):
    path = tmp_path / "split.json"
    content = {
        "7": {"data": {"text": "b"}, "label": 1, "weak_labels": [1, -1]},
        "3": {"data": {"text": "a"}, "label": None, "weak_labels": [-1, 0]},
    }
    path.write_text(json.dumps(content), encoding="utf-8")
    ids, rows, labels, weak_labels = read_wrench_split(path)
    assert ids == ["7", "3"] and rows == [{"text": "b"}, {"text": "a"}]
    assert labels.tolist() == [1, -1]
    assert weak_labels.tolist() == [[1, -1], [-1, 0]]


def test_read_wrench_split_rejects_ragged_weak_labels(tmp_path):
    path = tmp_path / "split.json"
    content = {
        "0": {"data": {"text": "a"}, "label": 0, "weak_labels": [1, -1]},
        "1": {"data": {"text": "b"}, "label": 0, "weak_labels": [1]},
    }
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(InputError, match="expected every row .* to have 2 weak labels .* got 1 in row '1'"):
        read_wrench_split(path)


def test_read_wrench_split_rejects_non_wrench_json(tmp_path):
    path = tmp_path / "split.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="JSON object of id -> row, got a list"):
        read_wrench_split(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="could not read the WRENCH split"):
        read_wrench_split(path)


def test_wrench_majority_vote_ties_use_the_row_index():
    # Every row is a tie (uncovered or split votes); WRENCH picks sha1(str(i)) % 2.
    L = np.array([[-1, -1], [0, 1], [-1, -1], [1, 0]], dtype=np.int8)
    from snorkel.utils import probs_to_preds as snorkel_probs_to_preds

    expected = snorkel_probs_to_preds(np.full((4, 2), 0.5), tie_break_policy="random")
    metrics = wrench_majority_vote_metrics(L, expected, 2)
    assert metrics["accuracy"] == 1.0 and metrics["coverage"] == 0.5
