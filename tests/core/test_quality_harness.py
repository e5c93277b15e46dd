"""The label-quality harness (benchmarks/quality.py): on a tiny hand-made dataset, and on youtube."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from benchmarks import quality

SPAM = ["win a free prize now", "click here for free money", "subscribe to my channel please", "check out my channel", "free gift card giveaway"]
HAM = ["what a beautiful song", "i love this video", "her voice is amazing", "this melody makes me cry", "best music video ever"]

SPEC = """
name: tiny-spam
instruction: Is this comment spam?
classes:
  - name: HAM
    description: A genuine comment about the video.
  - name: SPAM
    description: Self-promotion or advertising.
input_fields: [text]
"""

PROGRAMS = {
    "says_free": "def label(x):\n    return 1 if 'free' in x['text'] else -1\n",
    "says_channel": "def label(x):\n    return 1 if 'channel' in x['text'] else -1\n",
    "says_love": "def label(x):\n    return 0 if any(w in x['text'] for w in ('love', 'song', 'voice', 'melody')) else -1\n",
    "never_votes": "def label(x):\n    return -1\n",
}


def _weak_labels(text: str) -> list[int]:
    return [
        1 if "free" in text else -1,
        1 if "channel" in text else -1,
        0 if any(word in text for word in ("love", "song", "voice", "melody")) else -1,
        0 if "video" in text else -1,
    ]


def _write_split(path: Path, n_rows: int, rng: random.Random) -> None:
    rows = {}
    for i in range(n_rows):
        label = i % 2
        text = rng.choice(SPAM if label else HAM) + f" {rng.choice(['!', '', ' :)', ' wow'])}"
        rows[str(i)] = {"data": {"text": text}, "label": label, "weak_labels": _weak_labels(text)}
    path.write_text(json.dumps(rows), encoding="utf-8")


@pytest.fixture()
def tiny(tmp_path):
    folder = tmp_path / "data" / "tiny"
    folder.mkdir(parents=True)
    rng = random.Random(0)
    for split, n_rows in (("train", 80), ("valid", 30), ("test", 30)):
        _write_split(folder / f"{split}.json", n_rows, rng)
    (folder / "label.json").write_text(json.dumps({"0": "HAM", "1": "SPAM"}), encoding="utf-8")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    programs = tmp_path / "programs"
    programs.mkdir()
    for name, source in PROGRAMS.items():
        (programs / f"{name}.py").write_text(source, encoding="utf-8")
    benchmark = quality.Benchmark("tiny", str(folder), "accuracy", spec=spec)
    return benchmark, tmp_path, programs


def test_harness_runs_every_stage_and_prints_one_table(tiny):
    benchmark, tmp_path, programs = tiny
    settings = {**quality.STUDENT_SETTINGS, "candidates": ["logreg/tfidf/covered", "logreg/tfidf/all"]}
    rows, notes = quality.run_benchmarks(
        [benchmark], ["human", "folder"], data_root=tmp_path, cache_dir=tmp_path / "cache",
        programs_dir=programs, student_settings=settings,
    )
    assert [(r["dataset"], r["source"], r["family"]) for r in rows] == [("tiny", "human", "human"), ("tiny", "folder", "generated")]
    human, folder = rows
    assert human["n_programs"] == 4 and folder["n_programs"] == 4
    # The program that never votes is dropped by curation, with its reason.
    assert folder["n_kept"] == 3 and "never votes" in folder["dropped"]["never_votes"]
    assert any("never_votes" in note for note in notes)
    for row in rows:
        assert 0.0 < row["coverage"] <= 1.0
        selection = row["selection"]
        assert row["label_model"] == selection["label_model"] in {s["name"] for s in selection["label_models"]}
        names = {c["name"] for c in selection["candidates"]}
        # The narrowed grid, the supervised floor added to it, and the label model itself.
        assert names == {"logreg/tfidf/covered", "logreg/tfidf/all", "logreg/tfidf/gold", "label_model", "blend"}
        assert row["winner"] in names and row["supervised"] == "logreg/tfidf/gold"
        # The keywords separate this data: every stage must be far above chance on test.
        assert row["label_model_test"]["accuracy"] > 0.9
        assert row["final_test"]["accuracy"] > 0.9
        assert 0.0 <= row["estimate"]["accuracy"] <= 1.0
        assert set(quality.checks(row)) == {"floor", "estimate"}

    table = quality.format_table(rows)
    first, second = table.split("\n\n")
    assert len(first.splitlines()) == 2 + len(rows) and first.startswith("| dataset | source |")
    assert len(second.splitlines()) == 2 + len(rows)
    assert "| tiny | folder | 3/4 |" in table


def test_a_second_run_reuses_the_ingested_dataset(tiny):
    benchmark, tmp_path, _ = tiny
    cache = quality.open_storage(str(tmp_path / "cache"))
    first = quality.prepare_dataset(benchmark, tmp_path, cache)
    second = quality.prepare_dataset(benchmark, tmp_path, cache)
    assert first.manifest.digest == second.manifest.digest
    assert [len(second.texts[s]) for s in quality.SPLITS] == [80, 30, 30]
    assert (second.gold["test"] >= 0).all()


def test_a_dataset_shipped_as_one_split_is_carved_with_a_fixed_seed(tmp_path):
    source = tmp_path / "data" / "abstracts"
    source.mkdir(parents=True)
    rows = {str(i): {"label": i % 5, "weak_labels": [], "data": {"text": f"abstract {i}"}} for i in range(100)}
    (source / "test.json").write_text(json.dumps(rows), encoding="utf-8")
    (source / "label.json").write_text(json.dumps({str(k): f"class {k}" for k in range(5)}), encoding="utf-8")
    spec = tmp_path / "abstracts.yaml"
    spec.write_text(
        "name: abstracts\ninstruction: Which class?\nclasses:\n" + "".join(f"  - name: class {k}\n" for k in range(5)),
        encoding="utf-8",
    )
    benchmark = quality.Benchmark("abstracts", str(source), "accuracy", carved=True, spec=spec)
    cache = quality.open_storage(str(tmp_path / "cache"))
    prepared = quality.prepare_dataset(benchmark, tmp_path, cache)
    # 20 % test, then 10 % of the rest as valid: the rule of shared/data/extra/README.md.
    assert {s: i.n_rows for s, i in prepared.manifest.splits.items()} == {"train": 72, "valid": 8, "test": 20}
    assert "carved with RandomState(0)" in prepared.note
    again = quality.prepare_dataset(benchmark, tmp_path, cache)
    assert again.row_ids["valid"].tolist() == prepared.row_ids["valid"].tolist()


def test_a_skewed_variant_keeps_some_classes_at_set_shares_and_some_labeling_functions(tmp_path):
    source = tmp_path / "data" / "questions"
    source.mkdir(parents=True)
    names = {"0": "A", "1": "B", "2": "C", "3": "D"}
    (source / "label.json").write_text(json.dumps(names), encoding="utf-8")
    for split, n in (("train", 400), ("valid", 200), ("test", 200)):
        rows = {str(i): {"label": i % 4, "weak_labels": [i % 4, (i + 1) % 4, -1, i % 4], "data": {"text": f"q {i}"}} for i in range(n)}
        (source / f"{split}.json").write_text(json.dumps(rows), encoding="utf-8")
    spec = tmp_path / "questions.yaml"
    spec.write_text("name: questions\ninstruction: Which?\nclasses:\n" + "".join(f"  - name: {c}\n" for c in "ABCD"), encoding="utf-8")
    # Keep C (all of it), A and B at 3/5 and 1/5 of C's count; votes for D abstain; every 2nd function.
    skew = quality.Skew(("C", "A", "B"), (0.6, 0.36, 0.12), lf_stride=2)
    benchmark = quality.Benchmark("questions-skewed", str(source), "accuracy", spec=spec, skew=skew)
    prepared = quality.prepare_dataset(benchmark, tmp_path, quality.open_storage(str(tmp_path / "cache")))
    assert prepared.spec.class_names == ["C", "A", "B"]
    assert np.bincount(prepared.gold["train"]).tolist() == [100, 60, 20]
    assert np.bincount(prepared.gold["valid"]).tolist() == [50, 30, 10]
    votes = quality.human_votes(prepared)
    L, gold = votes.L["train"], prepared.gold["train"]
    assert L.shape == (180, 2)  # functions 0 and 2 of 4
    # Function 0 voted the row's own class: the new index of it. Function 2 never voted.
    np.testing.assert_array_equal(L[:, 0], gold)
    assert (L[:, 1] == -1).all()
    assert "one labeling function in 2" in prepared.note


def _row(**overrides):
    row = {
        "dataset": "youtube", "metric": "accuracy", "paper_metric": "accuracy", "source": "human", "family": "human",
        "n_programs": 10, "n_kept": 10, "coverage": 0.893, "label_model": "weighted+valid",
        "label_model_test": {"accuracy": 0.868, "f1": 0.847, "macro_f1": 0.85, "binary_f1": 0.847},
        "label_model_alone_test": {"accuracy": 0.9, "f1": 0.89, "macro_f1": 0.9, "binary_f1": 0.89},
        "supervised": "logreg/minilm/gold", "supervised_test": {"accuracy": 0.944, "f1": 0.94, "macro_f1": 0.94, "binary_f1": 0.94},
        "student": "logreg/tfidf/covered+gold", "student_test": {"accuracy": 0.968, "f1": 0.966, "macro_f1": 0.968, "binary_f1": 0.966},
        "winner": "logreg/tfidf/covered+gold", "final_test": {"accuracy": 0.968, "f1": 0.966, "macro_f1": 0.968, "binary_f1": 0.966},
        "estimate": {"accuracy": 0.942, "macro_f1": 0.94, "binary_f1": 0.93},
        "corrected": {"accuracy": 0.93, "macro_f1": 0.93, "binary_f1": 0.92},
    }
    row.update(overrides)
    return row


def test_table_shows_the_floors_the_estimate_and_the_published_numbers():
    table = quality.format_table([_row()])
    assert "0.868*" in table and "0.852 [S]" in table and "0.850 [T4]" in table
    assert "| logreg/tfidf/covered+gold | 0.968 | 0.968 | 0.968 | 0.942 | 0.930 | yes | yes |" in table


def test_the_floor_and_the_estimate_are_checked_by_the_runs_metric():
    assert quality.checks(_row()) == {"floor": True, "estimate": True}
    below = _row(final_test={"accuracy": 0.93, "f1": 0.9, "macro_f1": 0.93, "binary_f1": 0.9})
    assert quality.checks(below) == {"floor": False, "estimate": True}  # 0.93 < 0.944 - 0.005
    assert quality.checks(_row(estimate={"accuracy": 0.90, "macro_f1": 0.9, "binary_f1": 0.9}))["estimate"] is False
    by_f1 = _row(metric="macro_f1", final_test={"accuracy": 0.5, "f1": 0.95, "macro_f1": 0.95, "binary_f1": 0.95},
                 estimate={"accuracy": 0.5, "macro_f1": 0.94, "binary_f1": 0.9})
    assert quality.checks(by_f1) == {"floor": True, "estimate": True}


CACHE = Path("~/.cache/alchemist/quality").expanduser()


@pytest.mark.slow
@pytest.mark.shared_data
def test_youtube_final_labels_hold_their_floors_and_targets(shared_data):
    rows, _ = quality.run_benchmarks(
        [quality.BENCHMARKS["youtube"]], ["human", "offline", "llm-style"], data_root=shared_data, cache_dir=CACHE,
    )
    by_source = {row["source"]: row for row in rows}
    for row in rows:
        # The floor: the final labels are at least as good on test as the label model alone and
        # as the model trained on the labeled valid rows alone (within 0.005).
        assert quality.checks(row)["floor"], (row["source"], row["final_test"], row["label_model_alone_test"], row["supervised_test"])
        assert {c["name"] for c in row["selection"]["candidates"]} >= {"label_model", "blend", "logreg/tfidf/gold"}
    # The human labeling functions: the label model matches ScriptoriumWS's Snorkel (0.852).
    assert by_source["human"]["label_model_test"]["accuracy"] >= 0.852
    # The offline generator: 0.93 or better (the paper's GPT-3.5 programs: 0.891).
    assert by_source["offline"]["final_test"]["accuracy"] >= 0.93
    assert by_source["offline"]["coverage"] > 0.9


@pytest.mark.slow
@pytest.mark.shared_data
def test_sms_final_labels_hold_their_floors_and_the_spam_f1_target(shared_data):
    rows, _ = quality.run_benchmarks([quality.BENCHMARKS["sms"]], ["offline", "llm-style"], data_root=shared_data, cache_dir=CACHE)
    for row in rows:
        assert row["metric"] == "binary_f1"  # the sms spec chooses by spam F1
        assert quality.checks(row)["floor"], (row["source"], row["final_test"], row["label_model_alone_test"], row["supervised_test"])
    offline = next(row for row in rows if row["source"] == "offline")
    assert offline["final_test"]["binary_f1"] >= 0.93


@pytest.mark.slow
@pytest.mark.shared_data
def test_medabs_is_carved_and_its_offline_target_holds(shared_data):
    # MedAbs ships its test split only: carved with RandomState(0); every choice out of fold.
    rows, notes = quality.run_benchmarks([quality.BENCHMARKS["medabs"]], ["offline"], data_root=shared_data, cache_dir=CACHE)
    (row,) = rows
    assert any("carved with RandomState(0) into 2079 unlabeled pool / 231 valid / 578 test rows" in note for note in notes)
    # The target is the number docs/quality.md reported before the out-of-fold choices, 0.585 to
    # three places: 338 of the 578 test rows.
    assert round(row["final_test"]["accuracy"], 3) >= 0.585
    assert quality.checks(row)["floor"]


@pytest.mark.slow
@pytest.mark.shared_data
def test_an_imbalanced_three_class_set_is_judged_by_macro_f1_and_does_not_collapse(shared_data):
    # TREC's ENTY / HUM / LOC questions at 69 / 20 / 11 %, a third of the labeling functions:
    # a model that answers ENTY everywhere scores 0.69 accuracy and 0.27 macro-F1.
    rows, notes = quality.run_benchmarks(
        [quality.BENCHMARKS["trec-skewed"]], ["human", "offline"], data_root=shared_data, cache_dir=CACHE
    )
    assert any("ENTY 69% / HUM 20% / LOC 11%" in note for note in notes)
    for row in rows:
        assert row["metric"] == "macro_f1" and "largest of the 3 classes" in row["metric_reason"]
        winner = next(c for c in row["selection"]["candidates"] if c["name"] == row["winner"])
        assert not winner["collapsed"] and max(winner["train_shares"]) < 0.9
        assert row["final_test"]["macro_f1"] >= 0.5, (row["source"], row["final_test"])
