"""Steps the flows share: programs applied on Dask, then their votes collected."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alchemist_core import progress
from alchemist_core.config import DaskConfig, SandboxConfig
from alchemist_core.refs import (
    ProgramInputs,
    ProgramSetRef,
    RunContext,
    ShardJob,
    ShardVotes,
    VoteSet,
)
from tasks.apply import apply_programs, dask_cluster
from tasks.run import collect_votes

ProgramJob = tuple[ProgramSetRef, ProgramInputs, Sequence[Sequence[ShardJob]]]
"""A program set, what it reads, and the batches of shards to label with it."""


def apply_on_dask(
    cached: Callable, run: RunContext, jobs: Sequence[ProgramJob], sandbox: SandboxConfig, dask: DaskConfig
) -> list[list[list[ShardVotes]]]:
    """Submit one cached ``apply-programs`` task per batch of every job and wait for them all.

    Runs on ``dask.address``, or on a LocalCluster started for the step only if a batch is
    not in the cache. Returns, per job, per batch, what each shard wrote.
    """
    progress.expect("apply-programs", sum(len(batches) for _, _, batches in jobs))
    with dask_cluster(dask.address, dask.n_workers) as address:
        futures = [
            [
                cached(apply_programs).submit(
                    batch=list(batch), programs=programs, inputs=inputs, sandbox=sandbox, run=run, dask_address=address
                )
                for batch in batches
            ]
            for programs, inputs, batches in jobs
        ]
        return [[future.result() for future in job] for job in futures]


def label_with_programs(
    cached: Callable, run: RunContext, job: ProgramJob, sandbox: SandboxConfig, dask: DaskConfig
) -> VoteSet:
    """Apply one program set to its shards on Dask and collect the votes (quarantine included)."""
    (results,) = apply_on_dask(cached, run, [job], sandbox, dask)
    return collect_votes(results=results, programs=job[0], run=run)
