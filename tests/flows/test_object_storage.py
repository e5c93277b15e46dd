"""Every artifact and Prefect's results under ``s3://`` (moto's S3 on 127.0.0.1), and a rerun from the cache."""

from __future__ import annotations

import pytest

from alchemist_core.config import load_config
from tests.flows.helpers import (
    CACHED_TASKS,
    small_settings,
    states_by_task,
    task_states,
)

pytestmark = pytest.mark.slow


def _keys(prefix: str) -> set[str]:
    import s3fs

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    return {path.split(prefix, 1)[1] for path in fs.find(prefix)}


def test_run_on_s3_writes_every_artifact_there_and_reruns_from_cache(prefect_harness, s3_env, small_demo_csv, quick_library):
    from flows.label_dataset import label_dataset

    storage = "s3://alchemist-test/team/labels"
    config = load_config(overrides=small_settings(storage, small_demo_csv, quick_library))
    first = label_dataset(config)
    run = f"alchemist-test/team/labels/runs/{first['run_id']}/"
    assert first["run_root"] == "s3://" + run.rstrip("/")
    assert first["report"] == f"s3://{run}report.md"

    keys = _keys(run)
    for artifact in ("report.md", "metrics.json", "manifest.json", "config.json", "spec.json", "programs/manifest.json",
                     "programs/billing_words.py", "votes/faults.json", "label_model/model.pkl", "label_model/summary.json",
                     "student/student.json", "student/predictions/test.parquet"):  # fmt: skip
        assert artifact in keys, artifact
    assert {k for k in keys if k.startswith("votes/train/")} == {f"votes/train/shard-0000{i}.parquet" for i in range(3)}
    assert {k for k in keys if k.startswith("labels/")} >= {"labels/train/shard-00000.parquet", "labels/test/shard-00000.parquet"}
    root = _keys("alchemist-test/team/labels/")
    assert any(k.startswith("datasets/") and k.endswith("dataset.json") for k in root)
    assert any(k.startswith("prefect-results/") for k in root), "Prefect's results belong under the storage root"
    votes_cached = {k for k in root if k.startswith("cache/votes/")}
    assert len(votes_cached) == 5 * 5  # five programs on five shards

    # The same config again: every cached task is served from S3 and no program runs.
    state = label_dataset(config, return_state=True)
    second = state.result()
    assert second["metrics"] == first["metrics"]
    states = states_by_task(task_states(state.state_details.flow_run_id))
    for name in CACHED_TASKS:
        assert states[name] == {"Cached"}, (name, states)
    assert {k for k in _keys("alchemist-test/team/labels/") if k.startswith("cache/votes/")} == votes_cached

    # A relabel run reads its source run from S3 and writes its own run there too.
    from alchemist_core.relabel import RelabelConfig
    from flows.relabel import relabel

    relabeled = relabel(
        RelabelConfig(source_run=first["run_root"], data={"source": str(small_demo_csv), "split_field": "split", "id_field": "id",
                      "shard_rows": 200}, dask={"address": "synchronous"}, storage=storage)  # fmt: skip
    )
    assert relabeled["run_root"].startswith("s3://alchemist-test/team/labels/runs/relabel-demo-")
    relabel_keys = _keys(relabeled["run_root"].removeprefix("s3://") + "/")
    assert {"report.md", "metrics.json", "programs/manifest.json", "labels/train/shard-00000.parquet",
            "student/predictions/train.parquet"} <= relabel_keys  # fmt: skip
    # The same shards and programs: every vote came from the cache.
    assert {k for k in _keys("alchemist-test/team/labels/") if k.startswith("cache/votes/")} == votes_cached

    # Pruning on S3: objects are dated by their LastModified; nothing is a day old, everything is older than zero.
    from alchemist_core.cache_admin import cache_usage, prune_cache
    from alchemist_core.data.storage import open_storage

    root = open_storage(storage)
    usage = {area.area: area for area in cache_usage(root)}
    assert usage["votes"].n_files == len(votes_cached) and usage["votes"].newest is not None
    assert prune_cache(root, "1d").n_removed == 0
    report = prune_cache(root, "0", areas=["votes"])
    assert report.n_removed == len(votes_cached)
    after = _keys("alchemist-test/team/labels/")
    assert not {k for k in after if k.startswith("cache/votes/")}
    assert f"runs/{first['run_id']}/report.md" in after and any(k.startswith("prefect-results/") for k in after)


def test_demo_source_works_with_s3_storage(prefect_harness, s3_env, quick_library):
    from flows.generate_programs import generate_programs

    config = load_config(
        overrides={"spec": "demo", "data.source": "demo", "generator.kind": "library", "generator.library_path": str(quick_library),
                   "storage": "s3://alchemist-test/demo-only"}  # fmt: skip
    )
    summary = generate_programs(config)
    keys = _keys(f"alchemist-test/demo-only/runs/{summary['run_id']}/")
    assert {"programs/manifest.json", "report.md", "review.json"} <= keys
    datasets = [k for k in _keys("alchemist-test/demo-only/") if k.startswith("datasets/") and k.endswith("dataset.json")]
    assert len(datasets) == 1
