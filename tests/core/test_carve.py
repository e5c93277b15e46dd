"""Carving train / valid / test out of a dataset shipped as one split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alchemist_core.data.carve import (
    DEFAULT_FRACTIONS,
    carve_assignment,
    carve_dataset,
    carve_fractions,
    check_fractions,
)
from alchemist_core.data.ingest import ingest_dataset, read_gold, read_weak_labels
from alchemist_core.data.storage import open_storage
from alchemist_core.errors import InputError


def test_the_default_carve_is_the_shared_data_rule():
    # shared/data/extra/README.md: ceil(0.2 N) test, then ceil(0.1 of the rest) valid, from RandomState(0).
    split = carve_assignment(2888)
    order = np.random.RandomState(0).permutation(2888)
    assert set(split[order[:578]]) == {"test"}
    assert set(split[order[578:809]]) == {"valid"}
    assert set(split[order[809:]]) == {"train"}
    assert carve_assignment(2888).tolist() == split.tolist()
    assert carve_assignment(2888, seed=1).tolist() != split.tolist()
    counts = {name: int((carve_assignment(1000, (0.6, 0.2, 0.2)) == name).sum()) for name in ("train", "valid", "test")}
    assert counts == {"train": 600, "valid": 200, "test": 200}


@pytest.mark.parametrize(
    "fractions, message",
    [((0.8, 0.2), "three split fractions"), ((0.7, 0.2, 0.2), "sum to 1"), ((1.0, 0.0, 0.0), "valid > 0"), ((0.9, 0.2, -0.1), "test >= 0")],
)
def test_bad_fractions_say_what_is_expected(fractions, message):
    with pytest.raises(InputError, match=message):
        check_fractions(fractions)


@pytest.fixture()
def test_only(tmp_path):
    """A WRENCH folder shipped as its test split only, with weak labels."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rows = {str(i): {"data": {"text": f"abstract number {i}"}, "label": i % 3, "weak_labels": [i % 3, -1]} for i in range(50)}
    (folder / "test.json").write_text(json.dumps(rows), encoding="utf-8")
    (folder / "label.json").write_text(json.dumps({"0": "a", "1": "b", "2": "c"}), encoding="utf-8")
    source = open_storage(str(tmp_path / "ingested"))
    manifest = ingest_dataset(str(folder), source, fields=["text"], format="wrench")
    return source, manifest, tmp_path


def test_a_carved_dataset_keeps_every_row_with_its_id_gold_and_weak_labels(test_only):
    source, manifest, tmp_path = test_only
    assert list(manifest.splits) == ["test"]
    out = open_storage(str(tmp_path / "carved"))
    carved = carve_dataset(source, out, seed=0)
    assert {s: i.n_rows for s, i in carved.splits.items()} == {"train": 36, "valid": 4, "test": 10}
    assignment = carve_assignment(50, DEFAULT_FRACTIONS, seed=0)
    seen = []
    for split in ("train", "valid", "test"):
        ids, gold = read_gold(out, split)
        weak = read_weak_labels(out, split)
        table = out.read_table(carved.splits[split].shards[0])
        assert table.column("row_id").to_pylist() == ids.tolist()
        positions = [int(row_id.split(":")[1]) for row_id in ids.tolist()]
        assert positions == sorted(positions)  # source order within the split
        assert all(assignment[p] == split for p in positions)
        assert gold.tolist() == [p % 3 for p in positions]
        assert weak[:, 0].tolist() == [p % 3 for p in positions] and (weak[:, 1] == -1).all()
        assert table.column("text").to_pylist() == [f"abstract number {p}" for p in positions]
        seen += positions
    assert sorted(seen) == list(range(50))  # none lost, none repeated
    # The same carve again is found, not rewritten.
    shard = out.local_path(carved.splits["train"].shards[0])
    before = open(shard, "rb").read()
    assert carve_dataset(source, out, seed=0).digest == carved.digest
    assert open(shard, "rb").read() == before
    assert carve_dataset(source, open_storage(str(tmp_path / "other")), seed=1).digest != carved.digest


def test_which_datasets_are_carved(test_only):
    _, manifest, _ = test_only
    assert carve_fractions(manifest, {}) == DEFAULT_FRACTIONS  # one split, no train: carved
    assert carve_fractions(manifest, {}, needs_train=False) is None  # relabeling needs no train split
    assert carve_fractions(manifest, {"split_fractions": [0.5, 0.25, 0.25]}) == (0.5, 0.25, 0.25)
    from dataclasses import replace

    two = replace(manifest, splits={"valid": manifest.splits["test"], "test": manifest.splits["test"]})
    with pytest.raises(InputError, match="--split-fractions"):
        carve_fractions(two, {})
    with_train = replace(manifest, splits={"train": manifest.splits["test"]})
    assert carve_fractions(with_train, {}) is None
