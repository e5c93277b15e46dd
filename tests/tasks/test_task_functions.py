"""The tasks are I/O and calls: the text pipeline's tasks run through ``.fn``, without a flow or a Prefect API."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from prefect.logging import disable_run_logger

from alchemist_core.config import load_config
from alchemist_core.data.demo import make_demo_dataset
from alchemist_core.refs import (
    DatasetRef,
    LabelModelRef,
    ProgramInputs,
    PseudolabelSet,
    RunContext,
    VoteSet,
)
from tests.flows.helpers import quick_programs, small_settings


@pytest.fixture
def config(tmp_path):
    data = make_demo_dataset(tmp_path / "tickets.csv", n_rows=300, seed=5)
    library = quick_programs(tmp_path / "library")
    overrides = small_settings(str(tmp_path / "runs"), data, library, **{"student.enabled": False})
    return load_config(overrides=overrides)


def test_the_text_tasks_chain_by_references_without_a_flow(config):
    from tasks.aggregate import fit_label_model, predict_labels
    from tasks.apply import apply_programs
    from tasks.generate import generate_programs
    from tasks.ingest import ingest_data
    from tasks.report import report_run
    from tasks.run import collect_votes, curate_programs, plan_shards, start_run
    from tasks.select import final_labels

    with disable_run_logger():
        run = start_run.fn(config=config, config_digest=config.digest)
        assert isinstance(run, RunContext) and run.spec.name == "demo"
        dataset = ingest_data.fn(
            data=config.data, fields=run.spec.input_fields, class_names=run.spec.class_names, storage_root=run.storage_root
        )
        assert isinstance(dataset, DatasetRef) and dataset.splits.valid == "valid"
        programs = generate_programs.fn(run=run, dataset=dataset, generator=config.generator, sandbox=config.sandbox)
        assert programs.names and programs.uri.endswith("programs")
        inputs = ProgramInputs(data_root=dataset.root, fields=dataset.fields, n_classes=run.n_classes)
        batches = plan_shards.fn(dataset=dataset, run=run, shards_per_task=2)
        results = [
            apply_programs.fn(batch=b, programs=programs, inputs=inputs, sandbox=config.sandbox, run=run, dask_address="synchronous")
            for b in batches
        ]
        votes = collect_votes.fn(results=results, programs=programs, run=run)
        assert isinstance(votes, VoteSet) and votes.digest and set(votes.shards) == {"train", "valid", "test"}
        curated = curate_programs.fn(votes=votes, dataset=dataset, run=run)
        assert set(curated.active) <= set(votes.active) and curated.digest == votes.digest
        model = fit_label_model.fn(run=run, dataset=dataset, votes=curated, settings=config.label_model, selection=None)
        assert isinstance(model, LabelModelRef) and model.name == "majority" and model.programs == curated.active
        pseudolabels = predict_labels.fn(run=run, model=model, votes=curated)
        assert isinstance(pseudolabels, PseudolabelSet) and pseudolabels.digest
        final = final_labels.fn(run=run, selection=None, pseudolabels=pseudolabels, student=None)
        assert final.source == "label model"
        test_rows = pq.read_table(final.shards["test"]).num_rows
        assert test_rows == sum(info.n_rows for split, info in dataset.manifest.splits.items() if split == "test")

    from alchemist_core.refs import RunOutputs

    outputs = RunOutputs(programs=programs, votes=curated, label_model=model, pseudolabels=pseudolabels, final=final)
    with disable_run_logger():
        report = report_run.fn(run=run, dataset=dataset, outputs=outputs, config=config)
    metrics = run.run.read_json("metrics.json")
    assert metrics == dict(report.summary) and "final_labels.test.accuracy" in metrics
    assert "Alchemist run" in run.run.read_text("report.md") and report.report.endswith("report.md")
