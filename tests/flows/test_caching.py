"""Caching across runs: an edited program re-runs alone, a core-code change re-runs what it affects."""

from __future__ import annotations

from pathlib import Path

import pytest

from alchemist_core.config import load_config
from tests.flows.helpers import (
    CACHED_TASKS,
    small_settings,
    states_by_task,
    task_states,
)

pytestmark = pytest.mark.slow


def _vote_cache(root: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in (root / "cache" / "votes").rglob("*.parquet")}


def _run(config):
    from flows.label_dataset import label_dataset

    state = label_dataset(config, return_state=True)
    return state.result(), states_by_task(task_states(state.state_details.flow_run_id))


def test_only_what_depends_on_a_change_is_recomputed(prefect_harness, small_demo_csv, quick_library, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    config = load_config(overrides=small_settings(str(root), small_demo_csv, quick_library, **{"student.enabled": False}))
    first, states = _run(config)
    assert all(states[name] == {"Completed"} for name in CACHED_TASKS - {"distill-student"}), states
    before = _vote_cache(root)
    assert len(before) == 5 * 5  # five programs on five shards

    # Nothing changed: every cached task is served from the cache, no program runs.
    again, states = _run(config)
    assert all(states[name] == {"Cached"} for name in CACHED_TASKS - {"distill-student"}), states
    assert again["metrics"] == first["metrics"] and _vote_cache(root) == before

    # One program edited: generation and application re-run, but only that program is executed.
    program = quick_library / "billing_words.py"
    program.write_text(program.read_text().replace("refund|", ""))
    edited, states = _run(config)
    assert states["generate-programs"] == {"Completed"} and states["apply-programs"] == {"Completed"}
    assert states["fit-label-model"] == {"Completed"} and states["predict-labels"] == {"Completed"}
    after = _vote_cache(root)
    assert {path: mtime for path, mtime in after.items() if path in before} == before
    assert len(after) == len(before) + 5  # the edited program, once per shard
    assert edited["run_id"] == first["run_id"]

    # The code that runs programs changed (the sandbox worker): generation validates programs
    # in the sandbox, so it runs again, and writes the same program set; every program runs
    # again; their votes are the same, so the label model and everything after it come from
    # the cache.
    import alchemist_core.digest as digest

    real = digest.source_bytes
    edited_worker = "alchemist_core.programs.sandbox_worker"
    monkeypatch.setattr(digest, "source_bytes", lambda name: real(name) + (b"\n# edited\n" if name == edited_worker else b""))
    recoded, states = _run(config)
    assert states["generate-programs"] == {"Completed"} and states["apply-programs"] == {"Completed"}
    assert states["curate-programs"] == {"Cached"}
    assert states["fit-label-model"] == {"Cached"} and states["predict-labels"] == {"Cached"}
    assert len(_vote_cache(root)) == len(after) + 25
    assert recoded["metrics"] == edited["metrics"]


def test_the_local_cluster_starts_only_when_programs_must_run(prefect_harness, small_demo_csv, quick_library, tmp_path, monkeypatch):
    import distributed

    started = []
    real = distributed.LocalCluster

    def counting(*args, **kwargs):
        started.append(kwargs.get("n_workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", counting)
    overrides = {"student.enabled": False, "dask.address": None, "dask.n_workers": 1}
    config = load_config(overrides=small_settings(str(tmp_path / "runs"), small_demo_csv, quick_library, **overrides))
    first, states = _run(config)
    assert started == [1] and states["apply-programs"] == {"Completed"}
    # Every batch is a cache hit: no worker process is started at all.
    again, states = _run(config)
    assert started == [1] and states["apply-programs"] == {"Cached"}
    assert again["metrics"] == first["metrics"]


def test_an_on_demand_cluster_outside_its_flow_says_so():
    from tasks.apply import ON_DEMAND, dask_cluster, resolve_address

    assert resolve_address("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    with dask_cluster(None, 1) as address:
        assert address.startswith(ON_DEMAND)
    with pytest.raises(RuntimeError, match="flow run that has ended"):
        resolve_address(address)
