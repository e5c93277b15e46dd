import pytest

from alchemist_core.images.report import group_metrics, group_names, render_image_report


def test_worst_group_accuracy_exposes_a_spurious_labeler():
    # Circles on blue and squares on yellow are the majority; the labeler answers by colour.
    y = [0, 0, 0, 0, 1, 1, 1, 1, 0, 1]
    background = ["blue"] * 4 + ["yellow"] * 4 + ["yellow", "blue"]
    by_colour = [0 if b == "blue" else 1 for b in background]
    groups = group_names(y, background, ["circle", "square"])
    result = group_metrics(y, by_colour, groups)
    assert result["accuracy"] == pytest.approx(0.8)
    assert result["worst_group_accuracy"] == 0.0
    assert result["worst_group"] in ("circle / yellow", "square / blue")
    assert result["gap"] == pytest.approx(0.8)
    assert result["groups"]["circle / blue"] == {"accuracy": 1.0, "n_rows": 4}


def test_rows_without_gold_or_group_are_left_out_and_abstentions_count_as_wrong():
    result = group_metrics([0, 1, -1, 1], [0, -1, 1, 1], ["a", "a", "a", None])
    assert result["groups"] == {"a": {"accuracy": 0.5, "n_rows": 2}}
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert group_metrics([0, 1], [0, 1], [None, None]) is None
    with pytest.raises(ValueError, match="one length"):
        group_metrics([0], [0, 1], ["a"])


def test_the_report_adds_groups_concepts_and_skipped_images_before_the_cost():
    results = {
        "title": "run",
        "metrics": [{"model": "label model", "split": "test", "accuracy": 0.8, "macro_f1": 0.8}],
        "groups": [{
            "model": "label model", "split": "test", "accuracy": 0.8, "worst_group_accuracy": 0.25, "worst_group": "b",
            "gap": 0.55, "groups": {"a": {"accuracy": 0.9, "n_rows": 10}, "b": {"accuracy": 0.25, "n_rows": 4}},
        }],  # fmt: skip
        "concepts": {
            "class_names": ["circle", "square"], "subject": "shape", "template": "a photo of a {subject} whose {concept} is {description}",
            "source": "demo", "clip": "alchemist-tiny:random:0",
            "concepts": [{"name": "corners", "descriptions": {"circle": "none", "square": "four | sharp"}}],
        },  # fmt: skip
        "images": {"total_skipped": 2, "n_skipped": {"train": {"corrupt": 1, "missing": 1}},
                   "skipped": [{"split": "train", "where": "a.png", "reason": "corrupt", "detail": "cannot decode"}]},
        "cost": {"full_labeling": {"model": "gpt-4o", "n_rows": 10, "dollars": 1.0}},
    }  # fmt: skip
    text = render_image_report(results)
    assert text.index("## Metrics") < text.index("## Groups") < text.index("## Concepts") < text.index("## Images skipped") < text.index("## Cost")
    assert "| label model | test | 0.800 | 0.250 | 0.550 | 0.900 (10) | 0.250 (4) |" in text
    assert "| corners | none | four / sharp |" in text
    assert "- train: 1 corrupt, 1 missing" in text
    assert "`a.png` (train): corrupt, cannot decode" in text
    assert render_image_report({"images": {"total_skipped": 0, "n_skipped": {}}}).strip().endswith("every image could be read and decoded.")
