"""Cache usage and pruning: old entries of the chosen areas go; runs, datasets and LLM replies stay."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from alchemist_core.cache_admin import (
    CACHE_AREAS,
    DEFAULT_PRUNE_AREAS,
    cache_usage,
    check_areas,
    parse_age,
    prune_cache,
)
from alchemist_core.data.storage import Storage, open_storage
from alchemist_core.errors import InputError

NOW = time.time()
DAY = 86_400.0


def _write(root: Storage, age_days: float, *parts: str, size: int = 100) -> Path:
    """A file under ``root`` whose last write was ``age_days`` ago."""
    path = Path(root.write_bytes(os.urandom(size), *parts))
    stamp = NOW - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def storage(tmp_path) -> Storage:
    """A storage root as runs leave it: two runs, a dataset, and entries of every cache area, old and new."""
    root = open_storage(str(tmp_path / "store"))
    votes = pa.table({"votes": pa.array(np.array([0, 1, -1, 1], dtype=np.int8))})
    for shard, age in (("aa" * 32, 45), ("bb" * 32, 2)):
        for key in ("k1", "k2"):
            path = Path(root.write_table(votes, "cache", "votes", shard, f"{key}.parquet"))
            os.utime(path, (NOW - age * DAY, NOW - age * DAY))
    _write(root, 60, "cache", "embeddings", "old.npy", size=3000)
    _write(root, 1, "cache", "embeddings", "new.npy", size=3000)
    _write(root, 40, "cache", "clip", "scores.npy")
    _write(root, 90, "cache", "llm", "reply.json")
    _write(root, 31, "prefect-results", "0123abcd")
    _write(root, 0.5, "prefect-results", "4567ef01")
    _write(root, 50, "cache", "votes", "bb" * 32, ".tmp-abandoned")  # an interrupted write
    _write(root, 400, "runs", "old-run", "report.md")
    _write(root, 400, "datasets", "0123456789abcdef", "shard-00000.parquet")
    return root


def _files(root: Storage) -> set[str]:
    top = Path(root.root)
    return {str(p.relative_to(top)) for p in top.rglob("*") if p.is_file()}


def test_prune_removes_old_entries_of_the_default_areas_only(storage):
    before = _files(storage)
    report = prune_cache(storage, "30d", now=NOW)
    after = _files(storage)
    removed = before - after
    assert removed == {
        f"cache/votes/{'aa' * 32}/k1.parquet",
        f"cache/votes/{'aa' * 32}/k2.parquet",
        f"cache/votes/{'bb' * 32}/.tmp-abandoned",
        "cache/embeddings/old.npy",
        "cache/clip/scores.npy",
        "prefect-results/0123abcd",
    }
    # LLM replies, runs and datasets stay, however old.
    assert {"cache/llm/reply.json", "runs/old-run/report.md", "datasets/0123456789abcdef/shard-00000.parquet"} <= after
    # The shard folder whose entries all went is gone; the area folders stay.
    assert not (Path(storage.root) / "cache" / "votes" / ("aa" * 32)).exists()
    assert (Path(storage.root) / "cache" / "clip").is_dir()

    by_area = {area.area: area for area in report.areas}
    assert tuple(by_area) == DEFAULT_PRUNE_AREAS
    assert (by_area["votes"].n_files, by_area["votes"].n_removed, by_area["votes"].n_kept) == (5, 3, 2)
    assert by_area["embeddings"].bytes_removed == 3000
    assert report.n_removed == len(removed)
    assert report.bytes_removed == sum(a.bytes_removed for a in report.areas) > 3000
    assert not report.dry_run and report.cutoff == pytest.approx(NOW - 30 * DAY)


def test_a_dry_run_counts_what_would_go_and_removes_nothing(storage):
    before = _files(storage)
    dry = prune_cache(storage, "30d", dry_run=True, now=NOW)
    assert _files(storage) == before
    real = prune_cache(storage, "30d", now=NOW)
    assert [(a.area, a.n_removed, a.bytes_removed) for a in dry.areas] == [
        (a.area, a.n_removed, a.bytes_removed) for a in real.areas
    ]
    # Pruning again finds nothing more to remove.
    assert prune_cache(storage, "30d", now=NOW).n_removed == 0


def test_llm_replies_are_pruned_only_when_named(storage):
    report = prune_cache(storage, "30d", areas=["llm"], now=NOW)
    assert [a.area for a in report.areas] == ["llm"] and report.n_removed == 1
    assert "cache/llm/reply.json" not in _files(storage)
    assert f"cache/votes/{'aa' * 32}/k1.parquet" in _files(storage)  # other areas untouched


def test_age_zero_empties_the_areas(storage):
    prune_cache(storage, 0, areas=["votes", "results"], now=NOW)
    remaining = _files(storage)
    assert not any(name.startswith(("cache/votes/", "prefect-results/")) for name in remaining)
    assert "cache/embeddings/new.npy" in remaining


def test_usage_reports_every_area(storage):
    usage = {area.area: area for area in cache_usage(storage)}
    assert tuple(usage) == tuple(CACHE_AREAS)
    assert usage["votes"].n_files == 5
    assert usage["embeddings"].n_bytes == 6000
    assert usage["votes"].oldest == pytest.approx(NOW - 50 * DAY)
    assert usage["votes"].newest == pytest.approx(NOW - 2 * DAY)
    assert usage["llm"].n_files == 1


def test_an_area_that_was_never_written_is_empty(tmp_path):
    root = open_storage(str(tmp_path))
    assert all(area.n_files == 0 and area.oldest is None for area in cache_usage(root))
    assert prune_cache(root, "1d").n_removed == 0


def test_files_in_memory_storage_are_dated_by_their_listing():
    root = open_storage(f"memory://alchemist-prune-{os.getpid()}-{time.time_ns()}")
    root.write_bytes(b"x" * 10, "cache", "votes", "cc" * 32, "k.parquet")
    usage = {area.area: area for area in cache_usage(root)}
    assert usage["votes"].n_files == 1 and usage["votes"].newest is not None
    # Written just now: kept at 30 minutes, removed once an hour has passed.
    assert prune_cache(root, "30m").n_removed == 0
    assert prune_cache(root, "30m", now=time.time() + 3600).n_removed == 1
    assert not root.exists("cache", "votes", "cc" * 32, "k.parquet")


def test_a_missing_root_is_an_error_not_an_empty_cache(tmp_path):
    with pytest.raises(InputError, match="expected a storage root .* found nothing"):
        cache_usage(open_storage(str(tmp_path / "typo")))
    with pytest.raises(InputError, match="found nothing"):
        prune_cache(open_storage(str(tmp_path / "typo")), "30d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)),
     ("2w", timedelta(weeks=2)), ("7", timedelta(days=7)), (" 1.5d ", timedelta(days=1.5)), (0, timedelta(0))],
)  # fmt: skip
def test_ages(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "thirty days", "-3d", "3y", "d", float("nan"), -1, True, None])
def test_bad_ages_say_what_was_expected(text):
    with pytest.raises(InputError, match="expected an age"):
        parse_age(text)


def test_unknown_areas_are_refused(storage):
    with pytest.raises(InputError, match=r"expected cache areas among .*'votes'.* got \['vote'\]"):
        prune_cache(storage, "30d", areas=["vote"])
    with pytest.raises(InputError, match="got none"):
        check_areas([])
    assert check_areas(["llm", "votes"]) == ("votes", "llm")


def test_the_cli_prints_usage_and_prunes(storage, capsys):
    from flows.cli import main

    assert main(["cache", "usage", "--storage", storage.root]) == 0
    out = capsys.readouterr().out
    assert "votes" in out and "prefect-results" in out

    assert main(["cache", "prune", "--storage", storage.root, "--older-than", "30d", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove 6 files" in out
    assert f"cache/votes/{'aa' * 32}/k1.parquet" in _files(storage)

    assert main(["cache", "prune", "--storage", storage.root, "--older-than", "30d", "--areas", "votes"]) == 0
    assert "removed 3 files" in capsys.readouterr().out
    assert f"cache/votes/{'aa' * 32}/k1.parquet" not in _files(storage)
    assert "cache/embeddings/old.npy" in _files(storage)

    assert main(["cache", "prune", "--storage", storage.root, "--areas", "nope"]) == 2
    assert "expected cache areas" in capsys.readouterr().err


def test_the_flow_config_checks_age_and_areas_before_a_run():
    from pydantic import ValidationError

    from alchemist_core.cache_admin import PruneConfig

    config = PruneConfig(storage="s3://bucket/labels", areas=["llm", "votes"])
    assert config.older_than == "30d" and config.areas == ["votes", "llm"] and not config.dry_run
    with pytest.raises(ValidationError, match="expected an age such as 30d"):
        PruneConfig(older_than="a month")
    with pytest.raises(ValidationError, match="expected cache areas among"):
        PruneConfig(areas=["everything"])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        PruneConfig(older_then="30d")
