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
from tasks.aggregate import fit_label_model, predict_labels
from tasks.apply import apply_programs, dask_cluster
from tasks.artifacts import publish_run_artifacts
from tasks.caching import core_digest, persisted_in
from tasks.distill import distill_student
from tasks.generate import generate_fold_programs, generate_programs
from tasks.ingest import ingest_data
from tasks.report import evaluate_run, write_report
from tasks.run import collect_votes, curate_programs, import_weak_votes, plan_shards, start_run
from tasks.select import collect_fold_votes, final_labels, select_final_labels, selection_rows

GENERATE_CORE = ("alchemist_core.generate", "alchemist_core.generators.offline", "alchemist_core.generators.offline_mining",
                 "alchemist_core.generators.offline_prototypes", "alchemist_core.generators.offline_render",
                 "alchemist_core.generators.offline_terms", "alchemist_core.generators.openai", "alchemist_core.generators.repair",
                 "alchemist_core.generators.library", "alchemist_core.prompts", "alchemist_core.apply", "alchemist_core.policy")
APPLY_CORE = ("alchemist_core.votes", "alchemist_core.apply", "alchemist_core.sandbox", "alchemist_core.sandbox_worker", "alchemist_core.policy")
SELECTION_ROWS_CORE = ("alchemist_core.selection_rows", "alchemist_core.selection", "alchemist_core.votes", "alchemist_core.aggregate")
SELECT_CORE = ("alchemist_core.selection", "alchemist_core.selection_rows", "alchemist_core.aggregate", "alchemist_core.curate",
               "alchemist_core.training", "alchemist_core.distill", "alchemist_core.features", "alchemist_core.votes",
               "alchemist_core.evaluate", "alchemist_core.label_matrix")
AGGREGATE_CORE = ("alchemist_core.aggregate", "alchemist_core.pseudolabels", "alchemist_core.votes", "alchemist_core.selection")
DISTILL_CORE = ("alchemist_core.training", "alchemist_core.distill", "alchemist_core.features", "alchemist_core.votes",
                "alchemist_core.pseudolabels")
FINAL_CORE = ("alchemist_core.pseudolabels", "alchemist_core.aggregate", "alchemist_core.selection")


def _apply_on_cluster(cached, batches, data_root, programs, n_classes, fields, sandbox, address, cache_root):
    """Submit one cached ``apply-programs`` task per batch and wait for them all."""
    futures = [
        cached(apply_programs).submit(
            batch, data_root, programs, n_classes, fields, sandbox, address, cache_root, core_digest(*APPLY_CORE),
        )
        for batch in batches
    ]
    return [future.result() for future in futures]


@flow(name="label-dataset", persist_result=False)
def label_dataset(config: RunConfig) -> dict[str, Any]:
    """Label a dataset end to end and write a report; returns the run's summary."""
    from alchemist_core.selection_rows import fold_plan

    settings = config.model_dump(mode="json")
    run = start_run(settings, config.digest)
    cached = persisted_in(run["storage_root"])
    spec = run["spec"]
    fields = config.data.fields or spec["input_fields"]
    class_names = [c["name"] for c in spec["classes"]]
    dataset = ingest_data(settings["data"], fields, class_names, run["storage_root"], config.seed)

    splits = {"train": config.data.train_split, "valid": config.data.valid_split, "test": config.data.test_split}
    rows = cached(selection_rows)(
        dataset, splits, settings["selection"], run["run_root"], config.seed, core_digest(*SELECTION_ROWS_CORE)
    )
    fold_votes = None
    if config.generator.kind == "weak_labels":
        programs = {"uri": None, "digest": None, "names": [], "rejected": [], "n_duplicates": 0, "details": {}}
        votes = import_weak_votes(dataset, run["run_root"])
    else:
        programs = cached(generate_programs)(
            settings["generator"], spec, dataset, fields, splits, run["run_root"], run["cache_root"], config.seed,
            settings["sandbox"], core_digest(*GENERATE_CORE),
        )
        folds = []
        if rows is not None and programs["valid_rows_seen"]:
            folds = cached(generate_fold_programs)(
                settings["generator"], spec, dataset, fields, splits, run["run_root"], run["cache_root"], config.seed,
                settings["sandbox"], core_digest(*GENERATE_CORE), rows,
            )
        batches = plan_shards(dataset, run["run_root"], config.dask.shards_per_task)
        with dask_cluster(config.dask.address, config.dask.n_workers) as address:
            results = _apply_on_cluster(
                cached, batches, dataset["root"], programs, len(class_names), fields, settings["sandbox"], address, run["cache_root"]
            )
            fold_results = [
                _apply_on_cluster(
                    cached, [fold_plan(rows, run["run_root"], k)], rows.root, fold, len(class_names), fields,
                    settings["sandbox"], address, run["cache_root"],
                )
                for k, fold in enumerate(folds)
            ]
        votes = collect_votes(results, programs["names"], run["run_root"])
        if folds:
            fold_votes = collect_fold_votes(fold_results, folds)
    selection = None
    if rows is not None:
        selection = cached(select_final_labels)(
            rows, votes, programs, fold_votes, settings, spec, fields, run["run_root"], run["cache_root"], config.seed,
            core_digest(*SELECT_CORE),
        )
    votes = cached(curate_programs)(
        votes, dataset["root"], len(class_names), splits, programs["uri"], config.seed, programs_digest=programs["digest"]
    )

    model = cached(fit_label_model)(
        votes["votes"], votes["active"], dataset["root"], settings["label_model"], len(class_names),
        config.data.train_split, config.data.valid_split, config.seed, run["run_root"], core_digest(*AGGREGATE_CORE),
        votes_digest=votes["digest"], selection=selection,
    )
    labels = cached(predict_labels)(
        model, votes["votes"], votes["active"], run["run_root"], core_digest(*AGGREGATE_CORE), votes_digest=votes["digest"]
    )
    student = None
    if config.student.enabled and (selection is None or selection.student):
        shards = {split: info["shards"] for split, info in dataset["manifest"]["splits"].items()}
        student = cached(distill_student)(
            labels, dataset["root"], shards, fields, settings["student"], splits, run["cache_root"],
            run["run_root"], config.seed, core_digest(*DISTILL_CORE), label_model=model, votes_digest=votes["digest"],
            choice=selection.student if selection is not None else None,
        )
    final = cached(final_labels)(selection, labels, student, run["run_root"], core_digest(*FINAL_CORE))
    results = evaluate_run(run, dataset, programs, votes, model, labels, student, settings, selection, final)
    report = write_report(results, run["run_root"])
    publish_run_artifacts(results, report, spec["name"])
    return {"run_id": run["run_id"], "run_root": run["run_root"], "report": report, "metrics": results["summary"]}
