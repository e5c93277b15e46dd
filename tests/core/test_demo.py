import time

import numpy as np
import pytest

from alchemist_core.data.demo import (
    DEMO_CLASSES,
    DEMO_SPEC_NAME,
    DEMO_SPLITS,
    demo_table,
    make_demo_dataset,
)
from alchemist_core.data.ingest import ingest_dataset, read_gold
from alchemist_core.data.storage import open_storage
from alchemist_core.spec import load_spec

# Programs an LLM would plausibly write first: a few obvious keywords per class.
KEYWORDS = {
    "billing": ["charge", "refund", "invoice", "bill", "payment", "price", "fee", "money", "paid"],
    "technical": ["crash", "error", "bug", "app", "website", "load", "slow", "freez", "outage"],
    "shipping": ["package", "parcel", "delivery", "deliver", "shipping", "tracking", "courier", "arrived", "order #"],
    "account": ["password", "log in", "login", "account", "username", "email", "locked", "sign in"],
}


def keyword_vote(text: str) -> int:
    """Majority vote of one keyword program per class; -1 where no keyword matches."""
    lowered = text.lower()
    counts = [sum(word in lowered for word in KEYWORDS[name]) for name in DEMO_CLASSES]
    return int(np.argmax(counts)) if max(counts) else -1


def test_same_seed_gives_the_same_bytes(tmp_path):
    first = make_demo_dataset(tmp_path / "a.csv", n_rows=500, seed=3)
    again = make_demo_dataset(tmp_path / "b.csv", n_rows=500, seed=3)
    other = make_demo_dataset(tmp_path / "c.csv", n_rows=500, seed=4)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert first.read_text(encoding="utf-8").splitlines()[0] == '"id","text","label","split"'


def test_classes_splits_and_variety():
    table = demo_table(n_rows=3000, seed=0)
    assert table.column_names == ["id", "text", "label", "split"]
    labels = table.column("label").to_pylist()
    splits = table.column("split").to_pylist()
    texts = table.column("text").to_pylist()
    assert set(labels) == set(DEMO_CLASSES)
    assert min(labels.count(name) for name in DEMO_CLASSES) > 0.1 * len(labels)
    for name, share in zip(DEMO_SPLITS, (0.7, 0.1, 0.2)):
        assert abs(splits.count(name) / len(splits) - share) < 0.03
    assert len(set(table.column("id").to_pylist())) == 3000
    assert all(texts) and len(set(texts)) > 0.8 * len(texts)


def test_keyword_programs_get_most_tickets_right_but_not_all():
    table = demo_table(n_rows=3000, seed=0)
    gold = np.array([DEMO_CLASSES.index(name) for name in table.column("label").to_pylist()])
    votes = np.array([keyword_vote(text) for text in table.column("text").to_pylist()])
    covered = votes >= 0
    accuracy_covered = (votes[covered] == gold[covered]).mean()
    assert 0.6 < covered.mean() < 0.95, covered.mean()
    assert 0.7 < accuracy_covered < 0.95, accuracy_covered


def test_loads_with_the_demo_spec(tmp_path):
    spec = load_spec(DEMO_SPEC_NAME)
    assert tuple(spec.class_names) == DEMO_CLASSES
    source = make_demo_dataset(tmp_path / "tickets.csv", n_rows=400, seed=1)
    storage = open_storage(str(tmp_path / "ds"))
    manifest = ingest_dataset(
        str(source), storage, fields=spec.input_fields, id_field="id", split_field="split", class_names=spec.class_names
    )
    assert set(manifest.splits) == set(DEMO_SPLITS)
    assert manifest.n_rows == 400
    table = demo_table(n_rows=400, seed=1)
    expected = dict(zip(table.column("id").to_pylist(), table.column("label").to_pylist()))
    for split, info in manifest.splits.items():
        row_ids, labels = read_gold(storage, split)
        assert info.n_gold == info.n_rows
        assert [DEMO_CLASSES[i] for i in labels] == [expected[r] for r in row_ids]
        assert storage.read_table(info.shards[0]).column_names == ["row_id", "text"]


def test_rejects_a_non_positive_row_count(tmp_path):
    with pytest.raises(ValueError, match="n_rows must be a positive int, got 0"):
        make_demo_dataset(tmp_path / "t.csv", n_rows=0)


@pytest.mark.slow
def test_a_million_rows_in_under_thirty_seconds():
    started = time.perf_counter()
    table = demo_table(n_rows=1_000_000, seed=2)
    elapsed = time.perf_counter() - started
    assert table.num_rows == 1_000_000
    assert elapsed < 30, f"1M demo rows took {elapsed:.1f} s"
