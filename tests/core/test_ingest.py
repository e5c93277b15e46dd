import json
import os
import time
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alchemist_core.data.ingest import (
    DatasetManifest,
    dataset_digest,
    ingest_dataset,
    load_dataset_manifest,
    read_gold,
    read_weak_labels,
)
from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError, StorageError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLASSES = ["billing", "technical", "shipping"]

ROWS = [
    {"id": "a1", "text": "I was charged twice", "label": "billing"},
    {"id": "a2", "text": "the app crashes, on start", "label": "technical"},
    {"id": "a3", "text": 'my "package" never arrived', "label": "shipping"},
    {"id": "a4", "text": "refund please", "label": "billing"},
]


def write_csv(path: Path, rows=ROWS, columns=("id", "text", "label")) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def write_jsonl(path: Path, rows=ROWS) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def all_rows(storage, manifest, split="train"):
    return pa.concat_tables([storage.read_table(s) for s in manifest.splits[split].shards]).to_pylist()


def ingest(tmp_path, source, folder="ds", **options):
    storage = open_storage(str(tmp_path / folder))
    options.setdefault("fields", ["text"])
    return storage, ingest_dataset(str(source), storage, **options)


# -- round trips -----------------------------------------------------------------------------


def test_csv_round_trip_keeps_ids_text_and_maps_label_names(tmp_path):
    source = write_csv(tmp_path / "tickets.csv")
    storage, manifest = ingest(tmp_path, source, id_field="id", class_names=CLASSES)

    assert manifest.format == "csv" and manifest.name == "tickets"
    assert manifest.class_names == tuple(CLASSES)
    assert all_rows(storage, manifest) == [{"row_id": r["id"], "text": r["text"]} for r in ROWS]
    row_ids, labels = read_gold(storage, "train")
    assert row_ids.tolist() == ["a1", "a2", "a3", "a4"]
    assert labels.tolist() == [0, 1, 2, 0] and labels.dtype == np.int64
    assert manifest.splits["train"].n_gold == 4 and manifest.splits["train"].has_gold
    assert read_weak_labels(storage, "train") is None
    # The gold label is never in a shard, whatever columns are asked for.
    assert storage.read_table(manifest.splits["train"].shards[0]).column_names == ["row_id", "text"]


def test_jsonl_round_trip_gives_positional_ids_and_keeps_nulls(tmp_path):
    rows = [
        {"text": "hello", "label": 1, "extra": {"ignored": True}},
        {"text": None, "label": 0},
        {"label": None, "text": "no label here"},
        {"text": 42, "label": "1"},
    ]
    storage, manifest = ingest(tmp_path, write_jsonl(tmp_path / "rows.jsonl", rows))

    assert manifest.format == "jsonl"
    assert all_rows(storage, manifest) == [
        {"row_id": "train:0", "text": "hello"},
        {"row_id": "train:1", "text": None},
        {"row_id": "train:2", "text": "no label here"},
        {"row_id": "train:3", "text": "42"},
    ]
    assert read_gold(storage, "train")[1].tolist() == [1, 0, -1, 1]
    info = manifest.splits["train"]
    assert info.null_counts == {"text": 1}
    assert info.n_gold == 3
    assert manifest.class_names is None


def test_parquet_file_keeps_column_types(tmp_path):
    table = pa.table(
        {"text": ["a", "b", "c"], "stars": pa.array([1, 5, None], pa.int64()), "label": pa.array([0, 1, 1], pa.int32())}
    )
    pq.write_table(table, tmp_path / "reviews.parquet")
    storage, manifest = ingest(tmp_path, tmp_path / "reviews.parquet", fields=["text", "stars"])

    shard = storage.read_table(manifest.splits["train"].shards[0])
    assert shard.schema.field("stars").type == pa.int64()
    assert shard.column("stars").to_pylist() == [1, 5, None]
    assert read_gold(storage, "train")[1].tolist() == [0, 1, 1]
    assert manifest.splits["train"].null_counts == {"text": 0, "stars": 1}


def test_parquet_folder_reads_files_in_name_order(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    second = pa.table({"id": ["x3", "x4"], "text": ["c", "d"], "label": ["shipping", "billing"]})
    first = pa.table({"id": ["x1", "x2"], "text": ["a", "b"], "label": ["billing", "technical"]})
    pq.write_table(second, folder / "part-1.parquet")
    pq.write_table(first, folder / "part-0.parquet")
    storage, manifest = ingest(tmp_path, folder, id_field="id", class_names=CLASSES)

    assert manifest.format == "parquet"
    assert [r["row_id"] for r in all_rows(storage, manifest)] == ["x1", "x2", "x3", "x4"]
    assert read_gold(storage, "train")[1].tolist() == [0, 1, 2, 0]


def test_split_field_and_small_shards(tmp_path):
    rows = [
        {"text": f"row {i}", "label": CLASSES[i % 3], "split": "test" if i % 4 == 0 else "train"} for i in range(10)
    ]
    source = write_csv(tmp_path / "data.csv", rows, columns=("text", "label", "split"))
    storage, manifest = ingest(tmp_path, source, split_field="split", class_names=CLASSES, shard_rows=3)

    assert sorted(manifest.splits) == ["test", "train"]
    train = manifest.splits["train"]
    assert train.n_rows == 7 and len(train.shards) == 3 and len(train.shard_digests) == 3
    assert train.shards[0] == "shards/train/shard-00000.parquet"
    train_rows = all_rows(storage, manifest, "train")
    assert [r["row_id"] for r in train_rows] == [f"train:{i}" for i in range(7)]
    assert [r["text"] for r in train_rows] == [r["text"] for r in rows if r["split"] == "train"]
    assert read_gold(storage, "test")[1].tolist() == [CLASSES.index(r["label"]) for r in rows if r["split"] == "test"]
    assert manifest.n_rows == 10


def test_wrench_folder_with_weak_labels_and_entities(tmp_path):
    folder = tmp_path / "relations"
    folder.mkdir()
    (folder / "label.json").write_text(json.dumps({"0": "Cause", "1": "Part"}))
    train = {
        "7": {
            "label": 1,
            "data": {"text": "wheel of a car", "entity1": "wheel", "entity2": "car", "span1": [0, 5]},
            "weak_labels": [1, -1],
        },
        "3": {
            "label": 0,
            "data": {"text": "smoke from fire", "entity1": "smoke", "entity2": "fire"},
            "weak_labels": [-1, 0],
        },
    }
    flu = {"text": "flu causes fever", "entity1": "flu", "entity2": "fever"}
    test = {"0": {"label": 0, "data": flu, "weak_labels": [0, 0]}}
    (folder / "train.json").write_text(json.dumps(train))
    (folder / "test.json").write_text(json.dumps(test))
    storage, manifest = ingest(tmp_path, folder, fields=["text", "entity1", "entity2"])

    assert manifest.format == "wrench" and manifest.class_names == ("Cause", "Part")
    assert list(manifest.splits) == ["train", "test"]
    first_row = {"row_id": "train:7", "text": "wheel of a car", "entity1": "wheel", "entity2": "car"}
    assert all_rows(storage, manifest)[0] == first_row  # span1 was not asked for
    assert read_gold(storage, "train")[0].tolist() == ["train:7", "train:3"]
    assert read_gold(storage, "train")[1].tolist() == [1, 0]
    weak = read_weak_labels(storage, "train")
    assert weak.dtype == np.int8 and weak.tolist() == [[1, -1], [-1, 0]]
    assert manifest.splits["test"].n_weak_labels == 2

    with pytest.raises(InputError, match=r"do not match the label.json.*\['Cause', 'Part'\]"):
        ingest(tmp_path, folder, folder="other", fields=["text"], class_names=["Part", "Cause"])


def test_fsspec_memory_source_matches_the_local_file(tmp_path):
    local = write_csv(tmp_path / "tickets.csv")
    with fsspec.open("memory://alchemist-test/tickets.csv", "wb") as handle:
        handle.write(local.read_bytes())
    try:
        storage, remote = ingest(tmp_path, "memory://alchemist-test/tickets.csv", folder="remote", id_field="id")
        _, here = ingest(tmp_path, local, folder="local", id_field="id")
    finally:
        fsspec.filesystem("memory").rm("/alchemist-test", recursive=True)
    assert remote.digest == here.digest
    assert remote.source == "memory://alchemist-test/tickets.csv"
    assert [r["row_id"] for r in all_rows(storage, remote)] == ["a1", "a2", "a3", "a4"]


def test_string_labels_without_class_names_are_sorted(tmp_path):
    storage, manifest = ingest(tmp_path, write_csv(tmp_path / "t.csv"))
    assert manifest.class_names == ("billing", "shipping", "technical")
    assert read_gold(storage, "train")[1].tolist() == [0, 2, 1, 0]


def test_unlabeled_data_has_no_gold(tmp_path):
    source = write_csv(tmp_path / "t.csv", columns=("id", "text"))
    storage, manifest = ingest(tmp_path, source)
    assert not manifest.splits["train"].has_gold and manifest.splits["train"].n_gold == 0
    assert read_gold(storage, "train")[1].tolist() == [-1, -1, -1, -1]
    _, explicit = ingest(tmp_path, write_csv(tmp_path / "u.csv"), folder="explicit", label_field=None)
    assert explicit.splits["train"].n_gold == 0


# -- digests, re-ingest and the manifest -----------------------------------------------------


def test_digest_is_stable_and_follows_bytes_and_options(tmp_path):
    source = write_csv(tmp_path / "t.csv")
    storage_a, first = ingest(tmp_path, source, folder="a", id_field="id")
    storage_b, second = ingest(tmp_path, source, folder="b", id_field="id")
    assert first.digest == second.digest == dataset_digest(str(source), fields=["text"], id_field="id")
    assert read_gold(storage_a, "train")[0].tolist() == read_gold(storage_b, "train")[0].tolist()
    assert first.splits["train"].shard_digests == second.splits["train"].shard_digests

    assert dataset_digest(str(source), fields=["text"]) != first.digest  # options count
    data = source.read_bytes()
    source.write_bytes(data.replace(b"charged twice", b"charged twicE"))
    assert dataset_digest(str(source), fields=["text"], id_field="id") != first.digest


def test_reingest_of_the_same_data_reuses_the_folder(tmp_path):
    source = write_csv(tmp_path / "t.csv")
    storage, first = ingest(tmp_path, source, id_field="id")
    shard = Path(storage.uri(first.splits["train"].shards[0]))
    os.utime(shard, (0, 0))
    _, again = ingest(tmp_path, source, id_field="id")
    assert again == first
    assert shard.stat().st_mtime == 0  # not rewritten

    # Different data into the same folder replaces the dataset, old shards included.
    _, other = ingest(tmp_path, write_csv(tmp_path / "u.csv", ROWS[:2]), id_field="id", shard_rows=1)
    assert other.digest != first.digest
    assert load_dataset_manifest(storage) == other
    assert storage.list("shards", "train") == ["shard-00000.parquet", "shard-00001.parquet"]


def test_manifest_json_round_trip(tmp_path):
    storage, manifest = ingest(tmp_path, write_csv(tmp_path / "t.csv"), class_names=CLASSES)
    assert DatasetManifest.from_json(json.loads(json.dumps(manifest.to_json()))) == manifest
    assert load_dataset_manifest(storage) == manifest
    assert storage.read_json("dataset.json")["splits"]["train"]["n_rows"] == 4


def test_reading_what_is_not_there(tmp_path):
    storage, _ = ingest(tmp_path, write_csv(tmp_path / "t.csv"))
    with pytest.raises(InputError, match=r"no split 'test'.*\['train'\]"):
        read_gold(storage, "test")
    with pytest.raises(StorageError, match="dataset.json"):
        load_dataset_manifest(open_storage(str(tmp_path / "empty")))


# -- bad inputs ------------------------------------------------------------------------------


def _raw(data: bytes):
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def _corrupt_parquet(path: Path) -> Path:
    pq.write_table(pa.table({"text": ["a", "b"]}), path)
    path.write_bytes(path.read_bytes()[:-12])
    return path


BAD_INPUTS = {
    "empty file": ("t.csv", _raw(b""), {}, ["is empty", "expected a CSV header"]),
    "header only": ("t.csv", lambda p: write_csv(p, []), {}, ["holds no rows", "expected at least one"]),
    "misspelled field": ("t.csv", write_csv, {"fields": ["txt"]}, ["'txt'", "did you mean 'text'", "expected one of"]),
    "misspelled label field": ("t.csv", write_csv, {"label_field": "lable"}, ["'lable'", "did you mean 'label'"]),
    "misspelled id field": ("t.jsonl", write_jsonl, {"id_field": "ID"}, ["'ID'", "did you mean 'id'"]),
    "all-null field": (
        "t.csv",
        lambda p: write_csv(p, [{"text": "a", "label": "billing"}, {"text": "b"}], ("text", "note", "label")),
        {"fields": ["text", "note"]},
        ["'note' is empty in all 2 rows", "expected text"],
    ),
    "non-UTF-8 CSV": (
        "t.csv",
        _raw(b"text,label\nfine,billing\ncaf\xe9 au lait,billing\n"),
        {},
        ["not valid UTF-8", "0xe9", "byte offset 27", "line 3"],
    ),
    "non-UTF-8 JSONL": (
        "t.jsonl",
        _raw(b'{"text": "ok"}\n{"text": "\xff"}\n'),
        {},
        ["not valid UTF-8", "0xff", "byte offset 25", "line 2"],
    ),
    "duplicate ids": (
        "t.csv",
        lambda p: write_csv(p, ROWS + [dict(ROWS[0], text="again")] + [dict(ROWS[2])]),
        {"id_field": "id"},
        ["must be unique", "'a1' (2x)", "'a3' (2x)"],
    ),
    "unknown labels": (
        "t.csv",
        lambda p: write_csv(p, ROWS + [{"id": "a5", "text": "hm", "label": "refunds"}, {"id": "a6", "label": "7"}]),
        {"class_names": CLASSES},
        ["['7', 'refunds']", "expected one of the class names ['billing', 'technical', 'shipping']"],
    ),
    "corrupt parquet": ("t.parquet", _corrupt_parquet, {}, ["not a readable Parquet file", "expected a Parquet file"]),
    "unreachable path": ("missing.csv", lambda p: p, {}, ["expected a data file or folder", "nothing is there"]),
    "unknown suffix": ("t.xlsx", _raw(b"x"), {}, ["suffix '.xlsx'", "expected one of"]),
    "bad JSON line": (
        "t.jsonl",
        _raw(b'{"text": "a"}\n{"text": \n'),
        {},
        ["line 2 is not valid JSON", "expected one JSON object per line"],
    ),
    "ragged CSV": ("t.csv", _raw(b"text,label\na,billing\nb\n"), {}, ["not a well-formed CSV", "Expected 2 columns"]),
    "label in fields": (
        "t.csv",
        write_csv,
        {"fields": ["text", "label"]},
        ["also listed in fields", "kept out of the shards"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_expected_and_actual_and_leaves_nothing(tmp_path, case):
    file_name, make, options, expected = BAD_INPUTS[case]
    source = tmp_path / file_name
    make(source)
    storage = open_storage(str(tmp_path / "ds"))
    with pytest.raises(InputError) as raised:
        ingest_dataset(str(source), storage, **{"fields": ["text"], **options})
    for fragment in expected:
        assert fragment in str(raised.value)
    assert not storage.exists("dataset.json")
    assert not storage.exists("shards") and not storage.exists("gold")


def test_failed_ingest_removes_the_old_manifest(tmp_path):
    storage, _ = ingest(tmp_path, write_csv(tmp_path / "t.csv"), id_field="id")
    with pytest.raises(InputError, match="must be unique"):
        ingest(tmp_path, write_csv(tmp_path / "u.csv", ROWS + ROWS[:1]), id_field="id")
    assert not storage.exists("dataset.json")


def test_wrench_rows_with_unequal_weak_labels_are_rejected(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    rows = {
        "0": {"label": 0, "data": {"text": "a"}, "weak_labels": [0]},
        "1": {"label": 1, "data": {"text": "b"}, "weak_labels": [0, 1]},
    }
    (folder / "train.json").write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"same number of weak_labels, found lengths \[1, 2\]"):
        ingest(tmp_path, folder)


# -- real data and scale ---------------------------------------------------------------------


@pytest.mark.shared_data
def test_wrench_youtube(tmp_path):
    folder = SHARED_DATA / "wrench" / "youtube"
    if not folder.is_dir():
        pytest.skip(f"WRENCH youtube not found at {folder} (../shared/data is absent)")
    storage, manifest = ingest(tmp_path, folder)

    assert manifest.class_names == ("HAM", "SPAM")
    assert {s: i.n_rows for s, i in manifest.splits.items()} == {"train": 1686, "valid": 120, "test": 250}
    rows = json.loads((folder / "test.json").read_text(encoding="utf-8"))
    row_ids, labels = read_gold(storage, "test")
    assert row_ids.tolist() == [f"test:{k}" for k in rows]
    assert labels.tolist() == [r["label"] for r in rows.values()]
    weak = read_weak_labels(storage, "test")
    assert weak.shape == (250, 10)
    assert weak.tolist() == [r["weak_labels"] for r in rows.values()]
    for info in manifest.splits.values():
        assert info.has_gold and info.n_gold == info.n_rows and info.n_weak_labels == 10
    assert np.bincount(read_gold(storage, "train")[1]).tolist() == [801, 885]


@pytest.mark.slow
def test_a_million_row_csv_ingests_in_well_under_a_minute(tmp_path):
    from alchemist_core.data.demo import DEMO_CLASSES, make_demo_dataset

    source = make_demo_dataset(tmp_path / "big.csv", n_rows=1_000_000, seed=1)
    started = time.perf_counter()
    storage, manifest = ingest(
        tmp_path, source, id_field="id", split_field="split", class_names=DEMO_CLASSES, shard_rows=100_000
    )
    elapsed = time.perf_counter() - started
    assert manifest.n_rows == 1_000_000
    assert len(manifest.splits["train"].shards) == -(-manifest.splits["train"].n_rows // 100_000)
    assert elapsed < 45, f"ingesting 1M rows took {elapsed:.1f} s"
