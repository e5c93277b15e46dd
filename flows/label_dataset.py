"""The whole pipeline: ingest, generate programs, apply them on Dask, aggregate, distil, report.

Every expensive task is cached on the content it depends on, with its results under the
storage root (``<root>/prefect-results``): the same config twice recomputes nothing, an
edited program re-runs only itself and what depends on its votes, and a killed run resumes
from the stages that finished.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.config import RunConfig
from alchemist_core.refs import ProgramInputs, ProgramSetRef, RunOutputs
from flows.steps import apply_on_dask
from tasks.aggregate import fit_label_model, predict_labels
from tasks.artifacts import publish_run_artifacts
from tasks.caching import persisted_in
from tasks.distill import distill_student
from tasks.generate import generate_fold_programs, generate_programs
from tasks.ingest import ingest_data
from tasks.report import report_run
from tasks.run import (
    collect_votes,
    curate_programs,
    import_weak_votes,
    plan_shards,
    start_run,
)
from tasks.select import (
    collect_fold_votes,
    final_labels,
    select_final_labels,
    selection_rows,
)


@flow(name="label-dataset", persist_result=False)
def label_dataset(config: RunConfig) -> dict[str, Any]:
    """Label a dataset end to end and write a report; returns the run's summary."""
    from alchemist_core.selection_rows import fold_plan

    run = start_run(config=config, config_digest=config.digest)
    cached = persisted_in(run.storage_root)
    fields = config.data.fields or run.spec.input_fields
    dataset = ingest_data(data=config.data, fields=fields, class_names=run.spec.class_names, storage_root=run.storage_root, seed=run.seed)
    rows = cached(selection_rows)(run=run, dataset=dataset, settings=config.selection)

    fold_votes = None
    if config.generator.kind == "weak_labels":
        programs = ProgramSetRef(uri=None, digest=None, names=())
        votes = import_weak_votes(dataset=dataset, run=run)
    else:
        programs = cached(generate_programs)(run=run, dataset=dataset, generator=config.generator, sandbox=config.sandbox)
        folds = []
        if rows is not None and programs.valid_rows_seen:
            folds = cached(generate_fold_programs)(
                run=run, dataset=dataset, generator=config.generator, sandbox=config.sandbox, rows=rows
            )
        inputs = ProgramInputs(data_root=dataset.root, fields=dataset.fields, n_classes=run.n_classes)
        fold_inputs = ProgramInputs(data_root=rows.root, fields=dataset.fields, n_classes=run.n_classes) if folds else None
        jobs = [(programs, inputs, plan_shards(dataset=dataset, run=run, shards_per_task=config.dask.shards_per_task))]
        jobs += [(fold, fold_inputs, [fold_plan(rows, run.run_root, k)]) for k, fold in enumerate(folds)]
        results, *fold_results = apply_on_dask(cached, run, jobs, config.sandbox, config.dask)
        votes = collect_votes(results=results, programs=programs, run=run)
        if folds:
            fold_votes = collect_fold_votes(results=fold_results, folds=folds)
    selection = None
    if rows is not None:
        selection = cached(select_final_labels)(
            run=run, dataset=dataset, rows=rows, votes=votes, fold_votes=fold_votes, config=config
        )
    votes = cached(curate_programs)(votes=votes, dataset=dataset, run=run)
    model = cached(fit_label_model)(run=run, dataset=dataset, votes=votes, settings=config.label_model, selection=selection)
    pseudolabels = cached(predict_labels)(run=run, model=model, votes=votes)
    student = None
    if config.student.enabled and (selection is None or selection.student):
        student = cached(distill_student)(
            run=run, dataset=dataset, pseudolabels=pseudolabels, settings=config.student,
            choice=selection.student if selection is not None else None,
        )  # fmt: skip
    final = cached(final_labels)(run=run, selection=selection, pseudolabels=pseudolabels, student=student)
    outputs = RunOutputs(
        programs=programs, votes=votes, label_model=model, pseudolabels=pseudolabels, student=student, selection=selection, final=final
    )
    report = report_run(run=run, dataset=dataset, outputs=outputs, config=config)
    publish_run_artifacts(report=report, spec_name=run.spec.name)
    return {"run_id": run.run_id, "run_root": run.run_root, "report": report.report, "metrics": dict(report.summary)}
