"""Run bookkeeping: shard plans and combined vote results."""

from __future__ import annotations

from alchemist_core.refs import ProgramSetRef, ShardJob, ShardVotes
from alchemist_core.runs import combine_vote_results, shard_plan

PROGRAMS = ProgramSetRef(uri=None, digest=None, names=("a", "b"))


def _manifest(order):
    sizes = {"train": 5, "valid": 1, "test": 2}
    return {"splits": {s: {"shards": [f"shards/{s}/shard-{i:05d}.parquet" for i in range(sizes[s])],
                           "shard_digests": [f"{s}{i}" for i in range(sizes[s])]} for s in order}}  # fmt: skip


def test_shard_plan_is_the_same_whatever_the_split_order():
    plan = shard_plan(_manifest(["train", "valid", "test"]), "/run", 3)
    assert plan == shard_plan(_manifest(["valid", "test", "train"]), "/run", 3)
    assert [len(b) for b in plan] == [3, 3, 2]
    first = plan[0][0]
    assert first == ShardJob(split="test", shard="shards/test/shard-00000.parquet", shard_digest="test0",
                             votes_uri="/run/votes/test/shard-00000.parquet")  # fmt: skip


def test_shard_plan_makes_at_most_max_tasks_batches():
    manifest = {"splits": {"train": {"shards": [f"s{i}" for i in range(1000)]}}}
    plan = shard_plan(manifest, "/run", 4, max_tasks=32)
    assert len(plan) <= 32 and sum(len(b) for b in plan) == 1000
    assert all(item.shard_digest is None for batch in plan for item in batch)


def _shard(split, name, digest, computed):
    fault = {"n_errors": 0, "n_invalid": 0, "timed_out": False, "quarantined": None, "first_error": None, "seconds": 0.1}
    return ShardVotes(uri=f"/run/votes/{split}/{name}", digest=digest, n_rows=2, faults={"a": fault, "b": fault},
                      computed=tuple(computed))  # fmt: skip


def test_combined_votes_have_a_content_digest_and_program_run_counts():
    results = [[_shard("train", "shard-00001.parquet", "d1", ["a"])], [_shard("train", "shard-00000.parquet", "d0", [])]]
    combined = combine_vote_results(results, PROGRAMS)
    assert combined.shards["train"] == ("/run/votes/train/shard-00000.parquet", "/run/votes/train/shard-00001.parquet")
    assert combined.computed == {"a": 1, "b": 0}
    assert combined.digest == combine_vote_results(list(reversed(results)), PROGRAMS).digest
    changed = [[_shard("train", "shard-00001.parquet", "d9", [])], results[1]]
    assert combine_vote_results(changed, PROGRAMS).digest != combined.digest
    unknown = [[_shard("train", "shard-00001.parquet", None, [])]]
    assert combine_vote_results(unknown, PROGRAMS).digest is None
