"""Relabel: a stored run's programs, label model and student applied to new data (what a schedule runs)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.relabel import RelabelConfig
from tasks.aggregate import predict_labels
from tasks.apply import apply_programs, dask_cluster
from tasks.caching import core_digest, persisted_in
from tasks.ingest import ingest_data
from tasks.relabel import copy_programs, open_source_run, predict_student, publish_relabel_artifacts, write_relabel_report
from tasks.run import collect_votes, plan_shards, start_run
from tasks.select import final_labels

APPLY_CORE = ("alchemist_core.votes", "alchemist_core.apply", "alchemist_core.sandbox", "alchemist_core.sandbox_worker", "alchemist_core.policy")
AGGREGATE_CORE = ("alchemist_core.aggregate", "alchemist_core.pseudolabels", "alchemist_core.votes")
STUDENT_CORE = ("alchemist_core.relabel", "alchemist_core.distill", "alchemist_core.features", "alchemist_core.training")
FINAL_CORE = ("alchemist_core.pseudolabels", "alchemist_core.aggregate", "alchemist_core.selection")


@flow(name="relabel", persist_result=False)
def relabel(config: RelabelConfig) -> dict[str, Any]:
    """Label new data with a stored run's programs and label model (and student); returns the run's summary.

    The new run lands in ``<storage>/runs/relabel-<spec>-<digest of config and data>``: new
    data makes a new run, the same data again is served from the cache.
    """
    settings = config.model_dump(mode="json")
    source = open_source_run(config.source_run, settings["sandbox"])
    spec = source["spec"]
    class_names = [c["name"] for c in spec["classes"]]
    dataset = ingest_data(settings["data"], source["fields"], class_names, config.storage, config.seed, needs_train=False)
    run = start_run(settings, config.run_digest(dataset["digest"]), spec=spec, prefix="relabel-")
    cached = persisted_in(run["storage_root"])

    programs = copy_programs(source["programs"], run["run_root"])
    batches = plan_shards(dataset, run["run_root"], config.dask.shards_per_task)
    with dask_cluster(config.dask.address, config.dask.n_workers) as address:
        futures = [
            cached(apply_programs).submit(
                batch, dataset["root"], programs, len(class_names), source["fields"], source["sandbox"], address,
                run["cache_root"], core_digest(*APPLY_CORE),
            )
            for batch in batches
        ]
        results = [future.result() for future in futures]
    votes = collect_votes(results, programs["names"], run["run_root"])
    labels = cached(predict_labels)(
        source["label_model"], votes["votes"], source["label_model"]["programs"], run["run_root"],
        core_digest(*AGGREGATE_CORE), votes_digest=votes["digest"],
    )
    student = None
    if config.student and source["student"]:
        student = cached(predict_student)(
            source["student"], dataset, run["run_root"], run["cache_root"], core_digest(*STUDENT_CORE)
        )
    final = cached(final_labels)(source["selection"], labels, student, run["run_root"], core_digest(*FINAL_CORE))
    results = write_relabel_report(run, source, dataset, votes, labels, student, final)
    publish_relabel_artifacts(results, spec["name"])
    return {"run_id": run["run_id"], "run_root": run["run_root"], "report": results["report"], "metrics": results["summary"]}
