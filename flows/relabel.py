"""Relabel: a stored run's programs, label model and student applied to new data (what a schedule runs)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.refs import ProgramInputs, RunOutputs
from alchemist_core.relabel import RelabelConfig
from flows.steps import label_with_programs
from tasks.aggregate import predict_labels
from tasks.caching import persisted_in
from tasks.ingest import ingest_data
from tasks.relabel import (
    copy_programs,
    open_source_run,
    predict_student,
    publish_relabel_artifacts,
    write_relabel_report,
)
from tasks.run import plan_shards, start_run
from tasks.select import final_labels


@flow(name="relabel", persist_result=False)
def relabel(config: RelabelConfig) -> dict[str, Any]:
    """Label new data with a stored run's programs and label model (and student); returns the run's summary.

    The new run lands in ``<storage>/runs/relabel-<spec>-<digest of config and data>``: new
    data makes a new run, the same data again is served from the cache.
    """
    source = open_source_run(source_run=config.source_run, sandbox=config.sandbox)
    spec = source.spec
    dataset = ingest_data(
        data=config.data, fields=list(source.fields), class_names=spec.class_names, storage_root=config.storage,
        seed=config.seed, needs_train=False,
    )  # fmt: skip
    run = start_run(config=config, config_digest=config.run_digest(dataset.digest), spec=spec, prefix="relabel-", kind="relabel")
    cached = persisted_in(run.storage_root)

    programs = copy_programs(programs=source.programs, run=run)
    inputs = ProgramInputs(data_root=dataset.root, fields=dataset.fields, n_classes=spec.n_classes)
    batches = plan_shards(dataset=dataset, run=run, shards_per_task=config.dask.shards_per_task)
    votes = label_with_programs(cached, run, (programs, inputs, batches), source.sandbox, config.dask)
    pseudolabels = cached(predict_labels)(run=run, model=source.label_model, votes=votes)
    student = None
    if config.student and source.student:
        student = cached(predict_student)(run=run, student=source.student, dataset=dataset)
    final = cached(final_labels)(run=run, selection=source.selection, pseudolabels=pseudolabels, student=student)
    outputs = RunOutputs(
        programs=programs, votes=votes, label_model=source.label_model, pseudolabels=pseudolabels, student=student,
        selection=source.selection, final=final,
    )  # fmt: skip
    report = write_relabel_report(run=run, source=source, dataset=dataset, outputs=outputs)
    publish_relabel_artifacts(report=report, spec_name=spec.name)
    return {"run_id": run.run_id, "run_root": run.run_root, "report": report.report, "metrics": dict(report.summary)}
