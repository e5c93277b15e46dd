"""The prune-cache flow on a real run's storage: caches emptied, the run folder kept, a rerun rebuilds the same labels."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alchemist_core.cache_admin import PruneConfig
from alchemist_core.config import load_config
from tests.flows.helpers import small_settings, states_by_task, task_states

pytestmark = pytest.mark.slow


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_pruned_caches_are_rebuilt_by_the_next_run_with_the_same_labels(
    prefect_harness, small_demo_csv, quick_library, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.label_dataset import label_dataset
    from flows.prune_cache import prune_cache

    storage = tmp_path / "storage"
    config = load_config(overrides=small_settings(str(storage), small_demo_csv, quick_library))
    first = label_dataset(config)
    run_folder = Path(first["run_root"])
    run_files = _files(run_folder)
    votes_before = _files(storage / "cache" / "votes")
    assert len(votes_before) == 5 * 5  # five programs on five shards
    assert _files(storage / "prefect-results")

    # A dry run removes nothing; the weekly default (30 days) finds nothing this young.
    dry = prune_cache(PruneConfig(storage=str(storage), older_than="0", dry_run=True))
    assert dry["dry_run"] and dry["n_removed"] >= len(votes_before)
    assert _files(storage / "cache" / "votes") == votes_before
    assert prune_cache(PruneConfig(storage=str(storage)))["n_removed"] == 0

    state = prune_cache(PruneConfig(storage=str(storage), older_than="0"), return_state=True)
    report = state.result()
    by_area = {area["area"]: area for area in report["areas"]}
    assert by_area["votes"]["n_removed"] == len(votes_before)
    assert by_area["results"]["n_removed"] > 0
    assert not _files(storage / "cache" / "votes") and not _files(storage / "prefect-results")
    assert _files(run_folder) == run_files  # the run itself is untouched
    assert _files(storage / "datasets")
    states = states_by_task(task_states(state.state_details.flow_run_id, expect=("publish-prune-report",)))
    assert states == {"prune-cache": {"Completed"}, "publish-prune-report": {"Completed"}}

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    flow_run_id = state.state_details.flow_run_id
    table = {a.key: a for a in asyncio.run(artifacts())}["prune-cache"]
    assert table.type == "table" and "votes" in str(table.data) and "results" in str(table.data)

    # The same config again: the pruned stages run again (nothing cached) and give the same results.
    state = label_dataset(config, return_state=True)
    second = state.result()
    assert second["metrics"] == first["metrics"]
    states = states_by_task(task_states(state.state_details.flow_run_id))
    assert states["apply-programs"] == {"Completed"}, states
    assert _files(storage / "cache" / "votes") == votes_before
