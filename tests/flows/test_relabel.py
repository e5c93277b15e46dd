"""The relabel flow (a stored run applied to new data) and the generate-programs flow."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from alchemist_core.config import load_config
from alchemist_core.relabel import RelabelConfig
from tests.flows.helpers import (
    quick_programs,
    small_settings,
    states_by_task,
    task_states,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source_run(prefect_harness, small_demo_csv, tmp_path_factory) -> Path:
    """A finished labeling run with a student, from the quick programs."""
    from flows.label_dataset import label_dataset

    library = quick_programs(tmp_path_factory.mktemp("library"))
    storage = tmp_path_factory.mktemp("labeled") / "runs"
    summary = label_dataset(load_config(overrides=small_settings(str(storage), small_demo_csv, library)))
    return Path(summary["run_root"])


@pytest.fixture(scope="module")
def new_tickets(tmp_path_factory) -> Path:
    """Tickets the source run never saw: another seed, no split column (all rows are ``train``)."""
    import pyarrow.csv as pacsv

    from alchemist_core.data.demo import demo_table

    path = tmp_path_factory.mktemp("new") / "new_tickets.csv"
    pacsv.write_csv(demo_table(n_rows=400, seed=11).drop_columns(["split"]), str(path))
    return path


def _relabel(**values):
    from flows.relabel import relabel

    state = relabel(RelabelConfig.model_validate(values), return_state=True)
    return state.result(), states_by_task(task_states(state.state_details.flow_run_id))


def test_relabel_applies_the_stored_programs_label_model_and_student(source_run, new_tickets, tmp_path):
    values = {
        "source_run": str(source_run),
        "data": {"source": str(new_tickets), "id_field": "id", "shard_rows": 200},
        "dask": {"address": "synchronous"},
        "storage": str(tmp_path / "relabeled"),
    }
    summary, states = _relabel(**values)
    run = Path(summary["run_root"])
    assert run.name.startswith("relabel-demo-") and run.parent == tmp_path / "relabeled" / "runs"

    # The stored programs, copied into the new run; the stored label model, not refitted.
    source_programs = json.loads((source_run / "programs" / "manifest.json").read_text())
    assert json.loads((run / "programs" / "manifest.json").read_text())["digest"] == source_programs["digest"]
    assert not (run / "label_model").exists()
    model = pickle.loads((source_run / "label_model" / "model.pkl").read_bytes())
    active = json.loads((source_run / "label_model" / "summary.json").read_text())["programs"]
    for shard in sorted((run / "votes" / "train").iterdir()):
        votes = pq.read_table(shard)
        L = np.column_stack([votes.column(name).to_numpy() for name in active])
        labels = pq.read_table(run / "labels" / "train" / shard.name)
        assert labels.column("row_id").equals(votes.column("row_id"))
        expected = model.predict_proba(L)
        assert np.allclose(np.column_stack([labels.column(f"p_{k}").to_numpy() for k in range(4)]), expected, atol=1e-6)

    # The relabeled rows, exported with the new data's own ids: joinable to the input file.
    from alchemist_core.data.storage import Storage
    from alchemist_core.export import export_run

    exported = export_run(Storage(str(run)), str(tmp_path / "relabeled.parquet"))
    table = pq.read_table(exported.path)
    assert exported.columns[:2] == ("id", "split") and "pseudolabel" in exported.columns and "student_label" in exported.columns
    assert table.num_rows == len(set(table.column("id").to_pylist()))

    # The stored student labels the new rows too; the new data's gold labels score both.
    predictions = pq.read_table(run / "student" / "predictions" / "train.parquet")
    assert predictions.num_rows == 400
    metrics = summary["metrics"]
    assert metrics["train.rows"] == 400
    assert metrics["train.label_model_accuracy"] > 0.6 and metrics["train.student_accuracy"] > 0.6
    report = (run / "report.md").read_text()
    assert str(source_run) in report and "billing_words" in report
    assert "<svg" in (run / "report.html").read_text()  # the relabel report with its figures
    # The final labels follow what the source run chose out of fold.
    chosen = json.loads((source_run / "selection.json").read_text())["winner"]
    final = pq.read_table(run / "final" / "train.parquet")
    assert final.num_rows == 400 and metrics["train.final_accuracy"] > 0.6
    sources = set(final.column("source").to_pylist())
    if chosen == "label_model":
        assert "label model" in sources and sources <= {"label model", "student"}
    elif chosen == "blend":
        assert "blend" in sources and sources <= {"blend", "student"}
    else:
        assert sources == {"student"}
        assert final.column("label").equals(predictions.column("label").cast(final.column("label").type))
    assert "Final labels: " in report

    # The same data again: the same run folder, everything from the cache.
    again, states = _relabel(**values)
    assert again["run_root"] == summary["run_root"] and again["metrics"] == metrics
    for name in ("apply-programs", "predict-labels", "predict-student"):
        assert states[name] == {"Cached"}, (name, states)

    # New data makes a new run.
    other = new_tickets.with_name("other.csv")
    other.write_text("\n".join(new_tickets.read_text().splitlines()[:-50]) + "\n")
    moved, _ = _relabel(**{**values, "data": {**values["data"], "source": str(other)}})
    assert moved["run_root"] != summary["run_root"]


def test_relabel_says_what_a_source_run_lacks(prefect_harness, tmp_path, new_tickets):
    from alchemist_core.errors import InputError

    with pytest.raises(InputError, match="missing .*programs/manifest.json"):
        _relabel(source_run=str(tmp_path), data={"source": str(new_tickets)}, storage=str(tmp_path / "out"))


def test_generate_programs_flow_stores_and_reviews_programs_without_labeling(prefect_harness, small_demo_csv, tmp_path):
    from flows.generate_programs import generate_programs
    from flows.label_dataset import label_dataset

    settings = small_settings(str(tmp_path / "runs"), small_demo_csv, tmp_path, **{"generator.kind": "offline",
                              "generator.n_programs": 6, "generator.library_path": None, "student.enabled": False})  # fmt: skip
    config = load_config(overrides=settings)
    summary = generate_programs(config)
    run = Path(summary["run_root"])
    manifest = json.loads((run / "programs" / "manifest.json").read_text())
    review = json.loads((run / "review.json").read_text())
    assert [row["name"] for row in review["programs"]] == [entry["name"] for entry in manifest["programs"]]
    assert all(row["sample_coverage"] is not None for row in review["programs"])
    assert any((row["labeled_accuracy"] or 0) > 0.5 for row in review["programs"])
    report = (run / "report.md").read_text()
    assert manifest["programs"][0]["name"] in report and "coverage" in report
    assert not (run / "votes").exists() and not (run / "labels").exists()

    # Labeling with the same config writes the same programs into a folder of its own: the review stays as it was.
    assert run.name.startswith("review-")
    state = label_dataset(config, return_state=True)
    labeled = Path(state.result()["run_root"])
    assert labeled != run and "review-" + labeled.name == run.name
    assert json.loads((labeled / "programs" / "manifest.json").read_text())["digest"] == manifest["digest"]
    assert (run / "report.md").read_text() == report and not (run / "metrics.json").exists()
    assert json.loads((run / "run.json").read_text())["kind"] == "review"
    assert json.loads((labeled / "run.json").read_text())["kind"] == "label"
