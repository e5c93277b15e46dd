"""The image pipeline: ingest images, name concepts, CLIP features, concept programs, label model, student, report.

Programs are applied and aggregated by the text pipeline's own tasks and shared step: concept
programs' votes have the same shape. Expensive tasks are cached on content, with their
results under the storage root, as in ``flows/label_dataset.py``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.images.pipeline import ImageRunConfig
from alchemist_core.refs import ImageRunOutputs, ProgramInputs
from flows.steps import label_with_programs
from tasks.aggregate import fit_label_model, predict_labels
from tasks.caching import persisted_in
from tasks.images import (
    compute_image_features,
    distill_image_student,
    generate_concept_programs,
    ingest_image_data,
    name_concepts,
    plan_feature_shards,
    report_image_run,
)
from tasks.run import curate_programs, start_run
from tasks.select import select_label_model


@flow(name="label-images")
def label_images(config: ImageRunConfig) -> dict[str, Any]:
    """Label an image dataset end to end through concept programs; returns the run's summary."""
    run = start_run(config=config, config_digest=config.digest, kind="images")
    cached = persisted_in(run.storage_root)
    dataset = ingest_image_data(data=config.data, class_names=run.spec.class_names, storage_root=run.storage_root, seed=run.seed)
    concepts = name_concepts(run=run, settings=config.concepts, llm=config.llm, demo=dataset.demo)
    features = compute_image_features(run=run, dataset=dataset, concepts=concepts, clip=config.clip)
    programs = cached(generate_concept_programs)(
        run=run, dataset=dataset, features=features, generator=config.generator, llm=config.llm, sandbox=config.sandbox
    )
    inputs = ProgramInputs(data_root=features.root, fields=features.score_names, n_classes=run.n_classes)
    batches = plan_feature_shards(features=features, run=run, shards_per_task=config.dask.shards_per_task)
    votes = label_with_programs(cached, run, (programs, inputs, batches), config.sandbox, config.dask)
    votes = cached(curate_programs)(votes=votes, dataset=dataset, run=run)

    selection = cached(select_label_model)(run=run, dataset=dataset, votes=votes, programs=programs, features=features, config=config)
    model = cached(fit_label_model)(run=run, dataset=dataset, votes=votes, settings=config.label_model, selection=selection)
    pseudolabels = cached(predict_labels)(run=run, model=model, votes=votes)
    student = None
    if config.student.enabled:
        student = cached(distill_image_student)(
            run=run, dataset=dataset, features=features, pseudolabels=pseudolabels, settings=config.student
        )
    outputs = ImageRunOutputs(
        concepts=concepts, features=features, programs=programs, votes=votes, label_model=model, pseudolabels=pseudolabels,
        student=student, selection=selection,
    )  # fmt: skip
    report = report_image_run(run=run, dataset=dataset, outputs=outputs, config=config)
    return {"run_id": run.run_id, "run_root": run.run_root, "report": report.report, "metrics": dict(report.summary)}
