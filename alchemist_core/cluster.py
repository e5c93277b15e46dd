"""The local Dask cluster that program application runs on when no scheduler is given.

One worker process per core and one thread per worker: programs are CPU-bound Python,
parallel only across processes. Two of Dask's defaults cost CPU that such tasks never use
back, and on a machine with as many workers as cores that CPU is taken from the workers:
the statistical profiler samples every worker thread every 10 ms, and the event loop's health
check ticks every 20 ms. :data:`LOCAL_CLUSTER_CONFIG` turns the first off and slows the
second; the settings are handed to the worker processes when they start.
"""

from __future__ import annotations

import logging
from typing import Any

LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
}
"""Dask settings of :func:`start_local_cluster` (see ``docs/performance.md``, Dask section)."""


def start_local_cluster(n_workers: int, **options: Any) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes.

    ``options`` go to ``LocalCluster`` (e.g. ``silence_logs``). The caller closes it.
    """
    import dask
    from distributed import LocalCluster

    if n_workers < 1:
        raise ValueError(f"expected at least one Dask worker, got n_workers={n_workers}")
    settings = {"threads_per_worker": 1, "processes": True, "dashboard_address": None, "silence_logs": logging.WARNING}
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        return LocalCluster(n_workers=n_workers, **{**settings, **options})
