"""Run bookkeeping: the run folder, the shard plan, and combining per-shard vote results."""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger
from pydantic import BaseModel

from alchemist_core.data.storage import open_storage
from alchemist_core.refs import (
    DatasetRef,
    ImageDatasetRef,
    ProgramSetRef,
    RunContext,
    ShardJob,
    ShardVotes,
    VoteSet,
)
from alchemist_core.spec import TaskSpec
from tasks.caching import CACHE_POLICY, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="start-run", persist_result=False, retries=2, retry_condition_fn=retry_transient)
def start_run(
    config: BaseModel, config_digest: str, spec: TaskSpec | None = None, prefix: str = "", kind: str = "label"
) -> RunContext:
    """Check the LLM settings, resolve the spec, name the run and write ``run.json``, ``config.json`` and ``spec.json``.

    ``config`` is the flow's configuration model (with ``storage`` and ``seed``); ``spec``
    replaces the one it names; ``prefix`` starts a derived run id; ``kind`` is what the run is
    (see :data:`alchemist_core.runs.RUN_KINDS`).
    """
    from alchemist_core.runs import check_ready, start_run_folder

    check_ready(config)
    context = start_run_folder(
        open_storage(config.storage), config.model_dump(mode="json"), config_digest, spec, prefix=prefix, kind=kind
    )
    get_run_logger().info("run %s in %s", context.run_id, context.run_root)
    return context


@task(**STAGE_HOOKS, name="plan-shards", persist_result=False)
def plan_shards(dataset: DatasetRef, run: RunContext, shards_per_task: int) -> list[list[ShardJob]]:
    """Group every split's shards into batches: one Prefect task per batch, tens not thousands."""
    from alchemist_core.runs import shard_plan

    return shard_plan(dataset.manifest.to_json(), run.run_root, shards_per_task)


@task(**STAGE_HOOKS, name="collect-votes", persist_result=False)
def collect_votes(results: list[list[ShardVotes]], programs: ProgramSetRef, run: RunContext) -> VoteSet:
    """Merge fault counts over shards and quarantine programs that timed out or were killed anywhere.

    The result's ``digest`` identifies the content of every vote shard; ``computed`` counts
    the shards each program ran on when its batch was labeled (the rest came from the vote cache).
    """
    from alchemist_core.runs import combine_vote_results, require_active_programs

    votes = combine_vote_results(results, programs)
    run.run.write_json(dict(votes.faults), "votes", "faults.json")
    logger = get_run_logger()
    logger.info("votes of %d rows, digest %s", votes.n_rows, (votes.digest or "?")[:12])
    for name, reason in votes.quarantined.items():
        logger.warning("quarantined %s: %s", name, reason)
    require_active_programs(votes)
    return votes


@task(**STAGE_HOOKS, name="import-weak-votes", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def import_weak_votes(dataset: DatasetRef, run: RunContext) -> VoteSet:
    """Use the dataset's own weak labels (e.g. WRENCH's human labeling functions) as the votes."""
    from alchemist_core.runs import weak_label_votes

    return weak_label_votes(dataset.manifest.to_json(), dataset.root, run.run_root)


@task(**STAGE_HOOKS, name="curate-programs", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def curate_programs(votes: VoteSet, dataset: DatasetRef | ImageDatasetRef, run: RunContext) -> VoteSet:
    """Narrow the active programs to those worth aggregating; the report lists the dropped ones.

    ``votes`` counts by its digest; its program digests tell duplicates apart.
    """
    from alchemist_core.runs import curate_votes

    curated = curate_votes(
        votes, dataset.root, n_classes=run.n_classes, train_split=dataset.splits.train, valid_split=dataset.splits.valid,
        seed=run.seed,
    )
    logger = get_run_logger()
    for name, reason in curated.dropped.items():
        logger.info("dropped %s: %s", name, reason)
    return curated
