import os

import pyarrow as pa
import pytest

from alchemist_core.data.storage import Storage, open_storage
from alchemist_core.errors import StorageError


def test_local_write_read_roundtrip(tmp_path):
    storage = open_storage(str(tmp_path / "root"))
    uri = storage.write_json({"b": 1, "a": [1, 2]}, "runs", "r1", "manifest.json")
    assert uri == str(tmp_path / "root" / "runs" / "r1" / "manifest.json")
    assert storage.read_json("runs", "r1", "manifest.json") == {"a": [1, 2], "b": 1}
    assert storage.list("runs", "r1") == ["manifest.json"]


def test_failed_local_write_leaves_nothing(tmp_path, monkeypatch):
    storage = open_storage(str(tmp_path))
    storage.write_text("old", "a.txt")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match="could not write"):
        storage.write_text("new", "a.txt")
    monkeypatch.undo()
    assert storage.read_text("a.txt") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_missing_artifact_says_where(tmp_path):
    with pytest.raises(StorageError, match="expected an artifact at .*nope.json"):
        open_storage(str(tmp_path)).read_json("nope.json")


def test_memory_filesystem_same_code_path():
    storage = open_storage("memory://alchemist-test/prefix")
    table = pa.table({"row_id": ["a", "b"], "x": [1, 2]})
    storage.write_table(table, "votes", "shard-00000.parquet")
    assert storage.read_table("votes", "shard-00000.parquet").equals(table)
    assert storage.uri("votes") == "memory://alchemist-test/prefix/votes"
    child = storage.child("votes")
    assert child.list() == ["shard-00000.parquet"]


def test_append_line(tmp_path):
    storage = Storage(str(tmp_path))
    storage.append_line('{"n": 1}', "ledger.jsonl")
    storage.append_line('{"n": 2}', "ledger.jsonl")
    assert storage.read_text("ledger.jsonl").splitlines() == ['{"n": 1}', '{"n": 2}']
