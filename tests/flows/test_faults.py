"""Faults during program application: a Dask worker dies, and the votes come out the same."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from alchemist_core.data.demo import make_demo_dataset
from alchemist_core.data.ingest import ingest_dataset
from alchemist_core.data.storage import open_storage
from alchemist_core.programs.program_set import load_program_folder, save_program_set
from alchemist_core.programs.votes import apply_shard

PROGRAMS = Path(__file__).parent / "programs"
SLOW = '''"""Billing by keyword, slowly: a busy loop per row keeps each shard busy for a while."""


def label(x):
    n = 0
    for _ in range(3000):
        n += 1
    return 0 if "bill" in (x["text"] or "") else -1
'''


@pytest.mark.slow
def test_killed_dask_worker_gives_the_same_votes(tmp_path):
    from distributed import Client, LocalCluster, as_completed

    csv = make_demo_dataset(tmp_path / "demo.csv", n_rows=1600, seed=3)
    data = open_storage(str(tmp_path / "data"))
    manifest = ingest_dataset(str(csv), data, fields=["text"], id_field="id", split_field="split", shard_rows=100,
                              class_names=["billing", "technical", "shipping", "account"])
    program_set = load_program_folder(PROGRAMS)
    program_set = program_set.subset([n for n in program_set.names if not n.startswith("zz_")])
    from alchemist_core.programs.program_set import LabelingProgram, ProgramSet

    program_set = ProgramSet((*program_set.programs, LabelingProgram("slow_billing", SLOW)))
    programs_uri = save_program_set(program_set, open_storage(str(tmp_path)), "programs")
    shards = [s for info in manifest.splits.values() for s in info.shards]
    options = dict(n_classes=4, fields=["text"], program_seconds=30.0, memory_mb=1024)

    expected = {}
    for shard in shards:
        out = tmp_path / "expected" / shard.replace("/", "_")
        apply_shard(data.root, shard, programs_uri, str(out), **options)
        expected[shard] = pq.read_table(out)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        futures = [
            client.submit(apply_shard, data.root, shard, programs_uri, str(tmp_path / "got" / shard.replace("/", "_")), pure=False, **options)
            for shard in shards
        ]
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        done = as_completed(futures)
        next(done)  # the cluster is busy: one shard finished, others are running
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 300
        results = client.gather(futures)
        assert time.monotonic() < deadline
        assert victim not in client.run(os.getpid).values()
    assert len(results) == len(shards)
    for shard in shards:
        assert pq.read_table(tmp_path / "got" / shard.replace("/", "_")).equals(expected[shard]), shard
