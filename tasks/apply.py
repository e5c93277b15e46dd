"""Apply programs to data shards on Dask: one Prefect task per batch of shards."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import SandboxConfig
from alchemist_core.refs import (
    ProgramInputs,
    ProgramSetRef,
    RunContext,
    ShardJob,
    ShardVotes,
)
from tasks.caching import content_policy, retry_transient, task_code_digest
from tasks.progress import STAGE_HOOKS

ON_DEMAND = "local-on-demand:"
"""Prefix of the address :func:`dask_cluster` yields for a LocalCluster started on first use."""


class _OnDemandCluster:
    """A LocalCluster started by the first task that needs it, shared by the flow's tasks."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self._lock = threading.Lock()
        self._cluster: Any = None

    def address(self) -> str:
        with self._lock:
            if self._cluster is None:
                from alchemist_core.cluster import start_local_cluster

                self._cluster = start_local_cluster(self.n_workers)
            return self._cluster.scheduler_address

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None


_ON_DEMAND: dict[str, _OnDemandCluster] = {}


@contextlib.contextmanager
def dask_cluster(address: str | None, n_workers: int) -> Iterator[str]:
    """Yield a scheduler address: the given one, ``"synchronous"``, or a LocalCluster's for the run.

    Without an address the LocalCluster starts only when a task first asks for it (see
    :func:`resolve_address`), so a run whose program application is all cache hits starts no
    worker processes; it is closed when the block ends.
    """
    if address:
        yield address
        return
    token = f"{ON_DEMAND}{n_workers}:{uuid.uuid4().hex}"
    cluster = _ON_DEMAND[token] = _OnDemandCluster(n_workers)
    try:
        yield token
    finally:
        _ON_DEMAND.pop(token, None)
        cluster.close()


def resolve_address(address: str) -> str:
    """The scheduler address to connect to, starting the flow's on-demand LocalCluster if needed."""
    if not address.startswith(ON_DEMAND):
        return address
    cluster = _ON_DEMAND.get(address)
    if cluster is None:
        raise RuntimeError(
            f"the on-demand LocalCluster {address!r} belongs to a flow run that has ended; "
            "rerun the flow, or set dask.address to a running scheduler"
        )
    return cluster.address()


# Where programs run does not change their votes (and a LocalCluster's address changes every run).
@task(
    **STAGE_HOOKS,
    name="apply-programs", cache_policy=content_policy("dask_address"), persist_result=True, retries=2,
    retry_delay_seconds=2, retry_condition_fn=retry_transient,
)
def apply_programs(
    batch: list[ShardJob], programs: ProgramSetRef, inputs: ProgramInputs, sandbox: SandboxConfig, run: RunContext,
    dask_address: str,
) -> list[ShardVotes]:
    """Label every shard of ``batch`` and write its votes.

    Each shard's votes are a pure function of the shard, the program set and the sandbox
    settings, so a retried or re-run batch writes the same files. Each program's votes on a
    shard are cached by (shard digest, program digest) under ``<cache_root>/votes``: when one
    program of the set changes, only that program runs again.
    """
    from alchemist_core.programs.votes import apply_shard

    logger = get_run_logger()
    kwargs = dict(
        n_classes=inputs.n_classes,
        fields=list(inputs.fields),
        program_seconds=sandbox.program_seconds,
        memory_mb=sandbox.memory_mb,
        cache_root=run.cache_root,
        code=task_code_digest(apply_programs),
    )
    calls = [((inputs.data_root, job.shard, programs.uri, job.votes_uri), {**kwargs, "shard_digest": job.shard_digest}) for job in batch]
    if dask_address == "synchronous":
        results = [apply_shard(*args, **options) for args, options in calls]
    else:
        from distributed import Client

        with Client(resolve_address(dask_address), set_as_default=False) as client:
            results = client.gather([client.submit(apply_shard, *args, pure=False, **options) for args, options in calls])
    ran = sum(len(r["computed"]) for r in results)
    logger.info(
        "labeled %d shards, %d rows; %d program runs, %d from the vote cache",
        len(results), sum(r["n_rows"] for r in results), ran, sum(len(r["faults"]) for r in results) - ran,
    )  # fmt: skip
    return [ShardVotes(uri=r["uri"], n_rows=r["n_rows"], digest=r.get("digest"), computed=tuple(r["computed"]), faults=r["faults"]) for r in results]
