"""Flow-level smoke tests: the whole pipeline under a temporary Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alchemist_core.config import load_config
from alchemist_core.data.demo import make_demo_dataset
from tests.flows.helpers import task_states

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo.csv", n_rows=800, seed=1)


def _config(tmp_path, data, **overrides):
    values = {
        "spec": "demo",
        "data.source": str(data),
        "data.split_field": "split",
        "data.id_field": "id",
        "data.shard_rows": 200,
        "generator.kind": "library",
        "generator.library_path": str(PROGRAMS),
        "sandbox.program_seconds": 2.0,
        "student.features": "tfidf",
        "student.model": "logreg",
        "dask.address": "synchronous",
        "storage": str(tmp_path / "runs"),
    }
    values.update(overrides)
    return load_config(overrides=values)


def test_library_run_contains_faulty_programs_and_reports(prefect_harness, demo_csv, tmp_path):
    from flows.label_dataset import label_dataset

    summary = label_dataset(_config(tmp_path, demo_csv))
    run = Path(summary["run_root"])
    report = (run / "report.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    faults = json.loads((run / "votes" / "faults.json").read_text())

    # The good keyword programs label the demo far better than chance (4 classes).
    assert metrics["label_model.test.accuracy"] > 0.6
    assert metrics["student.test.accuracy"] > 0.6
    # Each faulty program is contained and reported, and the run still completed.
    assert faults["zz_raises"]["n_errors"] > 0
    assert faults["zz_garbage"]["n_invalid"] > 0
    assert faults["zz_loops"]["timed_out"] and metrics["programs.quarantined"] == 1
    # A library was not fitted to the valid rows, and every choice is made out of fold: no in-sample warning.
    assert metrics["generator.valid_rows_seen"] == 0 and "In-sample" not in report
    for name in ("zz_raises", "zz_loops", "zz_garbage"):
        assert name in report
    assert "timed out on at least one shard" in report
    # Artifacts of the run.
    for artifact in ("manifest.json", "config.json", "spec.json", "programs/manifest.json", "label_model/model.pkl", "student/student.json"):
        assert (run / artifact).exists(), artifact
    assert sorted(p.name for p in (run / "votes" / "train").iterdir()) == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]


def test_rerun_is_served_from_cache_and_gives_same_labels(prefect_harness, demo_csv, tmp_path):
    import pyarrow.parquet as pq

    from flows.label_dataset import label_dataset

    config = _config(tmp_path, demo_csv, **{"student.enabled": False})
    first = label_dataset(config)
    labels = Path(first["run_root"]) / "labels" / "train" / "shard-00000.parquet"
    before = pq.read_table(labels)
    state = label_dataset(config, return_state=True)
    second = state.result()
    assert second["metrics"] == first["metrics"]
    assert pq.read_table(labels).equals(before)
    states = task_states(state.state_details.flow_run_id)
    cached = {name.rsplit("-", 1)[0] for name, value in states.items() if value == "Cached"}
    assert {"generate-programs", "apply-programs", "fit-label-model", "predict-labels"} <= cached, states


@pytest.mark.slow
def test_same_votes_pseudolabels_and_student_whatever_the_workers(prefect_harness, demo_csv, tmp_path):
    import pyarrow.parquet as pq

    from flows.label_dataset import label_dataset

    runs = [
        label_dataset(_config(tmp_path / "sync", demo_csv)),
        label_dataset(_config(tmp_path / "one", demo_csv, **{"dask.address": None, "dask.n_workers": 1})),
        label_dataset(_config(tmp_path / "two", demo_csv, **{"dask.address": None, "dask.n_workers": 2})),
    ]
    first = Path(runs[0]["run_root"])
    compared = 0
    for folder in ("votes", "labels", "student/predictions"):
        for path in sorted((first / folder).rglob("*.parquet")):
            for other in runs[1:]:
                assert pq.read_table(path).equals(pq.read_table(Path(other["run_root"]) / path.relative_to(first))), path
                compared += 1
    assert compared >= 2 * (3 + 3 + 3)
    assert runs[0]["metrics"] == runs[1]["metrics"] == runs[2]["metrics"]


def test_every_choice_is_made_out_of_fold_and_reported(prefect_harness, demo_csv, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.label_dataset import label_dataset

    config = _config(
        tmp_path, demo_csv,
        **{"student.model": "auto", "student.candidates": ["logreg/tfidf/covered", "logreg/tfidf/all"],
           "label_model.max_fit_rows": 300},
    )
    summary = label_dataset(config)
    run = Path(summary["run_root"])
    report = (run / "report.md").read_text()
    selection = json.loads((run / "selection.json").read_text())
    label_model = json.loads((run / "label_model" / "summary.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())

    # The narrowed grid, the supervised floor added to it, and the label model itself competed.
    names = {c["name"] for c in selection["candidates"]}
    assert names == {"blend", "label_model", "logreg/tfidf/covered", "logreg/tfidf/all", "logreg/tfidf/gold"}
    assert {c["name"] for c in selection["label_models"]} == {"majority", "weighted", "weighted+valid", "snorkel"}
    winner = next(c for c in selection["candidates"] if c["name"] == selection["winner"])
    assert winner["accuracy"] == max(c["accuracy"] for c in selection["candidates"])
    assert selection["n_folds"] == 5 and selection["metric"]["name"] == "accuracy"
    assert metrics["selection.winner"] == selection["winner"]
    assert metrics["final_labels.valid_out_of_fold.accuracy"] == round(winner["accuracy"], 4)
    # The winner's score with its interval, and corrected for the choice among five.
    low, high = selection["interval"]
    assert low <= winner["accuracy"] <= high
    assert metrics["selection.corrected.accuracy"] == round(selection["corrected"]["accuracy"], 4)
    assert selection["corrected"]["accuracy"] <= winner["accuracy"] + 0.01
    assert "- corrected for having been picked among 5 candidates: accuracy" in report
    # The report shows every candidate's out-of-fold scores, and no in-sample valid score.
    assert "## How the final labels were chosen" in report and "### Final labels (out of fold)" in report
    for name in names:
        assert name in report
    assert "label model | valid |" not in report and "student | valid |" not in report
    # The final labels: one per row of every split, from the winner.
    for split in ("train", "valid", "test"):
        final = pq.read_table(run / "final" / f"{split}.parquet")
        pseudo = pa.concat_tables([pq.read_table(p) for p in sorted((run / "labels" / split).glob("*.parquet"))])
        assert final.column("row_id").to_pylist() == pseudo.column("row_id").to_pylist()
        assert set(final.column("source").to_pylist()) <= {"label model", "blend", "student"}
    # The chosen label model is refitted on a 300-row sample of the training votes, with the valid labels.
    assert label_model["fit_rows"] == 300 < label_model["train_rows"]
    assert label_model["name"] == selection["label_model"] and label_model["metric"] == "accuracy"


def test_a_dataset_shipped_as_one_split_is_carved_then_labeled(prefect_harness, demo_csv, tmp_path):
    import csv

    from flows.label_dataset import label_dataset

    # The demo tickets as a WRENCH folder holding a test split only (how MedAbs ships).
    folder = tmp_path / "tickets"
    folder.mkdir()
    classes = ["billing", "technical", "shipping", "account"]
    with open(demo_csv, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    content = {str(i): {"data": {"text": r["text"]}, "label": classes.index(r["label"]), "weak_labels": []} for i, r in enumerate(rows)}
    (folder / "test.json").write_text(json.dumps(content), encoding="utf-8")
    (folder / "label.json").write_text(json.dumps(dict(enumerate(classes))), encoding="utf-8")
    config = _config(tmp_path, folder, **{"data.split_field": None, "data.id_field": None, "data.format": "wrench"})
    summary = label_dataset(config)
    run = Path(summary["run_root"])
    manifest = json.loads((run / "manifest.json").read_text())
    # 20 % test, then 10 % of the rest as valid, seeded: the rule of shared/data/extra/README.md.
    assert manifest["dataset"]["rows"] == {"train": 576, "valid": 64, "test": 160}
    assert summary["metrics"]["final_labels.test.accuracy"] > 0.6
    assert (run / "selection.json").exists()
