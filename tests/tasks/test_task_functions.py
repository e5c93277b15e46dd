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


def test_the_image_tasks_chain_by_references_without_a_flow(tmp_path):
    from alchemist_core.images.pipeline import load_image_config
    from alchemist_core.refs import (
        ConceptSetRef,
        FeatureSetRef,
        ImageDatasetRef,
        StudentRef,
    )
    from tasks.aggregate import fit_label_model, predict_labels
    from tasks.apply import apply_programs
    from tasks.images import (
        compute_image_features,
        distill_image_student,
        generate_concept_programs,
        ingest_image_data,
        name_concepts,
        plan_feature_shards,
        report_image_run,
    )
    from tasks.run import collect_votes, curate_programs, start_run
    from tasks.select import select_label_model

    config = load_image_config(overrides={
        "storage": str(tmp_path / "runs"), "data.shard_rows": 16, "generator.n_programs": 3, "generator.sample_rows": 20,
        "student.epochs": 3, "student.hidden": [16], "student.device": "cpu", "clip.device": "cpu", "label_model.n_epochs": 50,
    })  # fmt: skip
    with disable_run_logger():
        run = start_run.fn(config=config, config_digest=config.digest)
        dataset = ingest_image_data.fn(data=config.data, class_names=run.spec.class_names, storage_root=run.storage_root)
        assert isinstance(dataset, ImageDatasetRef) and dataset.demo
        concepts = name_concepts.fn(run=run, settings=config.concepts, llm=config.llm, demo=dataset.demo)
        assert isinstance(concepts, ConceptSetRef) and concepts.names
        features = compute_image_features.fn(run=run, dataset=dataset, concepts=concepts, clip=config.clip)
        assert isinstance(features, FeatureSetRef) and features.concepts == concepts.digest
        programs = generate_concept_programs.fn(
            run=run, dataset=dataset, features=features, generator=config.generator, llm=config.llm, sandbox=config.sandbox
        )
        inputs = ProgramInputs(data_root=features.root, fields=features.score_names, n_classes=run.n_classes)
        batches = plan_feature_shards.fn(features=features, run=run, shards_per_task=4)
        results = [
            apply_programs.fn(batch=b, programs=programs, inputs=inputs, sandbox=config.sandbox, run=run, dask_address="synchronous")
            for b in batches
        ]
        votes = curate_programs.fn(votes=collect_votes.fn(results=results, programs=programs, run=run), dataset=dataset, run=run)
        selection = select_label_model.fn(run=run, dataset=dataset, votes=votes, programs=programs, features=features, config=config)
        model = fit_label_model.fn(run=run, dataset=dataset, votes=votes, settings=config.label_model, selection=selection)
        pseudolabels = predict_labels.fn(run=run, model=model, votes=votes)
        student = distill_image_student.fn(
            run=run, dataset=dataset, features=features, pseudolabels=pseudolabels, settings=config.student
        )
        assert isinstance(student, StudentRef) and set(student.predictions) == set(pseudolabels.shards)

    from alchemist_core.refs import ImageRunOutputs

    outputs = ImageRunOutputs(
        concepts=concepts, features=features, programs=programs, votes=votes, label_model=model, pseudolabels=pseudolabels,
        student=student, selection=selection,
    )  # fmt: skip
    with disable_run_logger():
        report = report_image_run.fn(run=run, dataset=dataset, outputs=outputs, config=config)
    assert run.run.read_json("metrics.json") == dict(report.summary) and "student.test.accuracy" in report.summary
