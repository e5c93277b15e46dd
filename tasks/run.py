"""Run bookkeeping: the run folder, the shard plan, and combining per-shard vote results."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import CACHE_POLICY, retry_transient


@task(name="start-run", persist_result=False, retries=2, retry_condition_fn=retry_transient)
def start_run(
    config: dict[str, Any], config_digest: str, spec: dict[str, Any] | None = None, prefix: str = ""
) -> dict[str, Any]:
    """Resolve the spec, name the run and write ``config.json`` and ``spec.json`` into its folder.

    ``spec`` (a task spec as a dict) replaces ``config["spec"]``; ``prefix`` starts a derived run id.
    """
    from alchemist_core.layout import RunLayout
    from alchemist_core.runs import start_run_folder
    from alchemist_core.spec import TaskSpec

    root = open_storage(config["storage"])
    task_spec = TaskSpec.model_validate(spec) if spec is not None else None
    info = start_run_folder(root, config, config_digest, task_spec, prefix=prefix)
    layout = RunLayout(root, info["run_id"])
    get_run_logger().info("run %s in %s", info["run_id"], layout.run.root)
    return {
        **info,
        "storage_root": root.root,
        "run_root": layout.run.root,
        "cache_root": layout.cache.root,
    }


@task(name="plan-shards", persist_result=False)
def plan_shards(dataset: dict[str, Any], run_root: str, shards_per_task: int) -> list[list[dict[str, Any]]]:
    """Group every split's shards into batches: one Prefect task per batch, tens not thousands."""
    from alchemist_core.runs import shard_plan

    return shard_plan(dataset["manifest"], run_root, shards_per_task)


@task(name="collect-votes", persist_result=False)
def collect_votes(results: list[list[dict[str, Any]]], program_names: list[str], run_root: str) -> dict[str, Any]:
    """Merge fault counts over shards and quarantine programs that timed out or were killed anywhere.

    The result's ``digest`` identifies the content of every vote shard; ``computed`` counts
    the shards each program ran on when its batch was labeled (the rest came from the vote cache).
    """
    from alchemist_core.runs import combine_vote_results

    combined = combine_vote_results(results, program_names)
    open_storage(run_root).write_json(combined["faults"], "votes", "faults.json")
    logger = get_run_logger()
    logger.info("votes of %d rows, digest %s", combined["n_rows"], (combined["digest"] or "?")[:12])
    for name, reason in combined["quarantined"].items():
        logger.warning("quarantined %s: %s", name, reason)
    return combined


@task(name="import-weak-votes", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def import_weak_votes(dataset: dict[str, Any], run_root: str) -> dict[str, Any]:
    """Use the dataset's own weak labels (e.g. WRENCH's human labeling functions) as the votes."""
    from alchemist_core.runs import weak_label_votes

    return weak_label_votes(dataset["manifest"], dataset["root"], run_root)


@task(name="curate-programs", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def curate_programs(
    votes: dict[str, Any],
    data_root: str,
    n_classes: int,
    splits: dict[str, str],
    programs_uri: str | None,
    seed: int,
    programs_digest: str | None = None,
) -> dict[str, Any]:
    """Narrow the active programs to those worth aggregating; the report lists the dropped ones.

    ``votes`` counts by its digest; ``programs_digest`` keys the cache on the programs'
    sources (duplicates are told apart by them).
    """
    from alchemist_core.runs import curate_votes

    digests = None
    if programs_uri:
        manifest = open_storage(programs_uri).read_json("manifest.json")
        digests = {entry["name"]: entry["digest"] for entry in manifest["programs"]}
    curated = curate_votes(
        votes, data_root, n_classes=n_classes, train_split=splits["train"], valid_split=splits["valid"], digests=digests, seed=seed
    )
    logger = get_run_logger()
    for name, reason in curated["dropped"].items():
        logger.info("dropped %s: %s", name, reason)
    return curated
