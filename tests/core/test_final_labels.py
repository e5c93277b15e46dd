"""The run's final labels: the label model, the blend or the student, per row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from alchemist_core.labelmodel.pseudolabels import final_label_table, pseudolabel_table


def _tables():
    # Row 0: programs vote class 0 weakly; row 1: programs vote class 1; row 2: no program votes.
    posterior = np.array([[0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    L = np.array([[0], [1], [-1]], dtype=np.int8)
    pseudo = pseudolabel_table(["a", "b", "c"], posterior, L)
    student_proba = np.array([[0.2, 0.8], [0.3, 0.7], [0.9, 0.1]])
    student = pa.table({"row_id": ["a", "b", "c"], "label": student_proba.argmax(axis=1), **{f"p_{k}": student_proba[:, k] for k in range(2)}})
    return pseudo, student


def test_the_label_model_labels_covered_rows_and_the_student_the_others():
    pseudo, student = _tables()
    table = final_label_table(pseudo, student, use="label model")
    assert table.column("label").to_pylist() == [0, 1, 0]
    assert table.column("source").to_pylist() == ["label model", "label model", "student"]
    assert table.column("p_0").to_numpy() == pytest.approx([0.6, 0.1, 0.9])


def test_the_blend_averages_where_programs_vote():
    pseudo, student = _tables()
    table = final_label_table(pseudo, student, use="blend")
    # Row 0: (0.6 + 0.2) / 2 = 0.4 for class 0, so the student's confidence carries it to class 1.
    assert table.column("label").to_pylist() == [1, 1, 0]
    assert table.column("source").to_pylist() == ["blend", "blend", "student"]
    assert table.column("p_1").to_numpy() == pytest.approx([0.6, 0.8, 0.1])
    assert table.column("confidence").to_numpy() == pytest.approx([0.6, 0.8, 0.9])


def test_the_student_labels_every_row_and_a_missing_student_is_an_error():
    pseudo, student = _tables()
    assert final_label_table(pseudo, student, use="student").column("label").to_pylist() == [1, 1, 0]
    with pytest.raises(ValueError, match="need the student's predictions"):
        final_label_table(pseudo, None, use="blend")
    # Without a student the label model labels every row, its prior where no program votes.
    alone = final_label_table(pseudo, None, use="label model")
    assert alone.column("source").to_pylist() == ["label model"] * 3
    with pytest.raises(ValueError, match="not aligned"):
        final_label_table(pseudo, student.take([2, 1, 0]), use="blend")
    with pytest.raises(ValueError, match="expected use"):
        final_label_table(pseudo, student, use="vote")
