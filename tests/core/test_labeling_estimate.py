"""One estimate of labeling every training row: the report's and ``annotate``'s, the same number every time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alchemist_core.annotate import (
    annotate_rows,
    estimate_labeling_cost,
    sample_positions,
)
from alchemist_core.baseline import annotate_baseline
from alchemist_core.data.ingest import ingest_dataset, load_dataset_manifest
from alchemist_core.data.storage import Storage
from alchemist_core.llm import (
    Ledger,
    LLMClient,
    LLMEndpoint,
    ResponseCache,
    load_price_table,
)
from alchemist_core.report.summary import full_labeling_estimate
from alchemist_core.spec import load_spec
from tests.fake_llm import fake_llm  # noqa: F401 - the fixture

SPEC = load_spec("youtube")
SETTINGS = {
    "data": {"train_split": "train", "valid_split": "valid", "test_split": "test", "fields": ["text"]},
    "student": {"enabled": False},
    "seed": 0,
}


@pytest.fixture(scope="module")
def comments_csv(tmp_path_factory) -> Path:
    """Short test rows first, then 500 training rows that grow longer, then long valid rows."""
    lines = ["id,text,label,split"]
    lines += [f"t{i},ok {i},0,test" for i in range(60)]
    lines += [f"r{i},{'check out my channel ' * (1 + i // 25)}{i},{i % 2},train" for i in range(500)]
    lines += [f"v{i},{'a very long comment about the song ' * 30}{i},0,valid" for i in range(40)]
    path = tmp_path_factory.mktemp("estimate") / "comments.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest(csv: Path, folder: Path):
    data = Storage(str(folder))
    manifest = ingest_dataset(
        str(csv), data, fields=["text"], id_field="id", split_field="split", class_names=SPEC.class_names, shard_rows=128
    )
    return data, manifest


def _estimate(data, manifest, **options):
    return full_labeling_estimate(SPEC, data, manifest, ["text"], "gpt-3.5-turbo", pool="train", **options)


def test_sample_positions_are_fixed_and_spread_over_all_rows():
    assert sample_positions(1000, 200) == sample_positions(1000, 200)
    positions = sample_positions(1000, 200)
    assert len(positions) == 200 and positions[0] == 0 and positions[-1] >= 990
    assert sample_positions(450, 200)[-1] == 447  # spread to the end, not the first 400 rows
    assert sample_positions(0) == [] and sample_positions(5) == [0, 1, 2, 3, 4]


def test_the_estimate_prices_the_training_rows_and_says_so(comments_csv, tmp_path):
    data, manifest = _ingest(comments_csv, tmp_path / "a")
    assert len(manifest.splits["train"].shards) == 4  # 500 rows in shards of 128
    estimate = _estimate(data, manifest)
    prices = load_price_table()
    assert estimate["pool"] == "train" and estimate["model"] == "gpt-3.5-turbo"
    assert (estimate["n_rows"], estimate["batch_size"], estimate["n_calls"]) == (500, 20, 25)
    assert estimate["price_known"] is True and estimate["price_table_date"] == prices.date
    assert estimate["prompt_tokens"] > 0 and estimate["completion_tokens"] > 0 and estimate["method"]
    assert estimate["dollars"] == pytest.approx(
        prices.cost("gpt-3.5-turbo", prompt_tokens=estimate["prompt_tokens"], completion_tokens=estimate["completion_tokens"])
    )
    # The long valid rows and the short test rows are not in the pool.
    assert _estimate(data, manifest, batch_size=10)["n_calls"] == 50


def test_the_estimate_is_the_same_for_reingested_data_and_any_split_order(comments_csv, tmp_path):
    data, manifest = _ingest(comments_csv, tmp_path / "a")
    again_data, again = _ingest(comments_csv, tmp_path / "b")
    read_back = load_dataset_manifest(again_data)
    reordered = dataclasses.replace(manifest, splits=dict(reversed(list(manifest.splits.items()))))
    first = _estimate(data, manifest)
    assert _estimate(again_data, again) == first
    assert _estimate(again_data, read_back) == first
    assert _estimate(data, reordered) == first


def test_the_price_table_passed_in_prices_the_estimate(comments_csv, tmp_path):
    data, manifest = _ingest(comments_csv, tmp_path / "a")
    prices = load_price_table()
    doubled = dataclasses.replace(
        prices,
        prices={name: dataclasses.replace(p, prompt_per_1k=2 * p.prompt_per_1k, completion_per_1k=2 * p.completion_per_1k)
                for name, p in prices.prices.items()},
    )  # fmt: skip
    assert _estimate(data, manifest, prices=doubled)["dollars"] == pytest.approx(2 * _estimate(data, manifest)["dollars"])
    unknown = full_labeling_estimate(SPEC, data, manifest, ["text"], "no-such-model", pool="train")
    assert unknown["price_known"] is False


def test_a_missing_pool_gives_no_estimate(comments_csv, tmp_path):
    data, manifest = _ingest(comments_csv, tmp_path / "a")
    assert full_labeling_estimate(SPEC, data, manifest, ["text"], "gpt-3.5-turbo", pool="nope") is None


def test_annotate_prices_exactly_what_the_report_prices(comments_csv, tmp_path, fake_llm):  # noqa: F811
    data, manifest = _ingest(comments_csv, tmp_path / "a")
    report = _estimate(data, manifest)
    run = Storage(str(tmp_path / "run"))
    endpoint = LLMEndpoint(base_url=fake_llm.url, model="gpt-3.5-turbo", api_key_env="ALCHEMIST_UNSET_KEY", timeout=1.0)
    client = LLMClient(endpoint, cache=ResponseCache(run.child("cache")), ledger=Ledger(run))
    summary = annotate_baseline(
        run=run, data=data, manifest=manifest, spec=SPEC, client=client, settings=SETTINGS, cache=run.child("cache"),
        budget_usd=1.0, dry_run=True,
    )  # fmt: skip
    assert fake_llm.request_count == 0
    assert summary["estimate"] == report and summary["pool"] == "train" and summary["n_rows"] == 500
    # annotate_rows on the training rows in memory (shard order) measures the same sample.
    rows = [
        {"text": text}
        for shard in manifest.splits["train"].shards
        for text in data.read_table(shard, columns=["text"]).column("text").to_pylist()
    ]
    in_memory = annotate_rows(client, SPEC, rows, budget_usd=1.0, dry_run=True).estimate
    assert in_memory.dollars == report["dollars"] and in_memory.prompt_tokens == report["prompt_tokens"]
    assert estimate_labeling_cost(SPEC, data, manifest, "train", ["text"], "gpt-3.5-turbo").dollars == report["dollars"]
