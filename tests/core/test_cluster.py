"""The local Dask cluster program application runs on when no scheduler is given."""

from __future__ import annotations

import dask
import pytest

from alchemist_core.cluster import LOCAL_CLUSTER_CONFIG, start_local_cluster


def _worker_settings():
    import dask

    return {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG}


@pytest.mark.slow
def test_the_workers_run_with_the_cluster_settings_and_the_caller_keeps_its_own():
    from distributed import Client

    before = {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG}
    assert before != LOCAL_CLUSTER_CONFIG  # Dask's defaults: the profiler on, a 20 ms tick
    with start_local_cluster(1) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 1
        (settings,) = client.run(_worker_settings).values()
        assert settings == LOCAL_CLUSTER_CONFIG
        assert {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG} == before


def test_a_cluster_needs_a_worker():
    with pytest.raises(ValueError, match="at least one Dask worker, got n_workers=0"):
        start_local_cluster(0)
