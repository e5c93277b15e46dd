"""`alchemist annotate` against a local OpenAI-compatible server: what it reports, what it may spend."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alchemist_core.annotate import estimate_labeling_cost
from alchemist_core.baseline import format_ratio
from alchemist_core.config import load_config
from alchemist_core.data.ingest import ingest_dataset
from alchemist_core.data.layout import RunLayout
from alchemist_core.data.storage import Storage
from alchemist_core.llm import Ledger
from alchemist_core.report.summary import full_labeling_estimate
from alchemist_core.spec import load_spec
from flows.cli import main as cli
from tests import fake_llm as fake_server
from tests.fake_llm import Reply

fake_llm = fake_server.fake_llm  # the fixture

SPEC = load_spec("youtube")
REPORT = "# Alchemist run r1: youtube\n\nWhat the programs did.\n"
PROGRAMS_DOLLARS = 0.0002
N_TRAIN = 180  # 9 calls of 20 rows


@pytest.fixture(scope="module")
def comments_csv(tmp_path_factory) -> Path:
    spam = ["check out my channel", "subscribe to me please", "visit my site http://x.example"]
    ham = ["love this song", "great video", "this song brings back memories"]
    lines = ["id,text,label,split"]
    for i in range(300):
        spammy = i % 3 == 0
        text = (spam if spammy else ham)[i % 3] + f" {i}"
        split = "test" if i % 5 == 0 else ("valid" if i % 5 == 1 else "train")
        lines.append(f"c{i},{text},{int(spammy)},{split}")
    path = tmp_path_factory.mktemp("annotate") / "comments.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def finished_run(comments_csv, fake_llm, tmp_path, monkeypatch):  # noqa: F811
    """A run folder as `alchemist run` leaves it, with one program call of $0.0002 in its ledger."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-annotate")
    config = load_config(
        overrides={
            "spec": "youtube",
            "data.source": str(comments_csv),
            "data.split_field": "split",
            "data.id_field": "id",
            "data.fields": ["text"],
            "generator.kind": "openai",
            "generator.openai.base_url": fake_llm.url,
            "generator.openai.model": "gpt-3.5-turbo",
            "generator.openai.timeout": 5,
            "student.enabled": False,
            "storage": str(tmp_path / "store"),
        }
    )
    layout = RunLayout(Storage(config.storage), "r1")
    staging = ingest_dataset(str(comments_csv), Storage(str(tmp_path / "staging")), fields=["text"], id_field="id",
                             split_field="split", class_names=SPEC.class_names)  # fmt: skip
    data = layout.dataset(staging.digest)
    manifest = ingest_dataset(str(comments_csv), data, fields=["text"], id_field="id", split_field="split",
                              class_names=SPEC.class_names)  # fmt: skip
    assert manifest.splits["train"].n_rows == N_TRAIN
    run = layout.run
    run.write_json(config.model_dump(mode="json"), "config.json")
    run.write_json(SPEC.model_dump(mode="json"), "spec.json")
    run.write_json({"dataset": {"digest": manifest.digest[:16]}}, "manifest.json")
    run.write_json({}, "metrics.json")
    run.write_text(REPORT, "report.md")
    Ledger(run).record(
        {"purpose": "code", "model": "gpt-3.5-turbo", "prompt_tokens": 300, "completion_tokens": 30,
         "dollars": PROGRAMS_DOLLARS, "cached": False}
    )  # fmt: skip
    return {"path": Path(run.root), "run": run, "data": data, "manifest": manifest}


def _annotate(run: dict, *flags: str) -> int:
    return cli(["annotate", "--run", str(run["path"]), *flags])


def _annotate_entries(run: dict) -> list[dict]:
    return [e for e in Ledger(run["run"]).entries() if e["purpose"] == "annotate"]


def test_a_command_where_no_reply_was_usable_fails_and_leaves_the_report_alone(finished_run, fake_llm, capsys):  # noqa: F811
    fake_llm.enqueue(*[Reply("no idea")] * 9)
    assert _annotate(finished_run, "--budget", "1") == 2
    err = capsys.readouterr().err
    assert "alchemist: error: direct labeling with gpt-3.5-turbo got no usable label for any of the 180 training rows" in err
    assert "9 of 9 replies were unusable" in err and "--refresh asks anew" in err
    assert (finished_run["path"] / "report.md").read_text() == REPORT
    assert not (finished_run["path"] / "annotation" / "comparison.md").exists()
    metrics = json.loads((finished_run["path"] / "annotation" / "metrics.json").read_text())
    assert (metrics["n_labeled"], metrics["n_unusable"], metrics["n_unusable_replies"]) == (0, 180, 9)
    assert "no usable label" in metrics["failed"]


def test_a_command_whose_budget_is_spent_before_any_call_fails(finished_run, fake_llm, capsys):  # noqa: F811
    assert _annotate(finished_run, "--budget", "0") == 2
    err = capsys.readouterr().err
    assert "no usable label" in err and "180 rows were never sent" in err and "raise --budget" in err
    assert fake_llm.request_count == 0
    assert (finished_run["path"] / "report.md").read_text() == REPORT


def test_unusable_replies_are_counted_in_the_report(finished_run, fake_llm, capsys):  # noqa: F811
    fake_llm.enqueue(Reply("no idea"), Reply("I cannot tell"))
    assert _annotate(finished_run, "--budget", "1") == 0
    captured = capsys.readouterr()
    comparison = (finished_run["path"] / "annotation" / "comparison.md").read_text()
    assert "gave a usable label to 140 of 180 training rows" in comparison
    assert "40 rows got no label because 2 of 9 replies were unusable" in comparison
    assert "labeled 180" not in comparison
    assert comparison in (finished_run["path"] / "report.md").read_text()
    assert "2 of 9 replies were unusable; 40 rows got no label (replies are cached: --refresh asks again)" in captured.err
    assert "a usable label for 140 of 180 training rows" in captured.out


def test_the_budget_caps_every_annotate_command_of_a_run_together(finished_run, fake_llm, capsys):  # noqa: F811
    run = finished_run
    estimate = estimate_labeling_cost(SPEC, run["data"], run["manifest"], "train", ["text"], "gpt-3.5-turbo")
    budget = 4.5 * estimate.dollars / estimate.n_calls  # about four of the nine calls

    assert _annotate(run, "--budget", f"{budget}") == 0
    first = sum(e["dollars"] for e in _annotate_entries(run) if not e["cached"])
    first_calls = fake_llm.request_count
    assert 0 < first <= budget and 0 < first_calls < 9
    capsys.readouterr()

    # The same cap again: only what is left may be spent; the answered batches come from the cache.
    assert _annotate(run, "--budget", f"{budget}") == 0
    out = capsys.readouterr().out
    billed = [e for e in _annotate_entries(run) if not e["cached"]]
    assert sum(e["dollars"] for e in billed) <= budget
    assert len(billed) == fake_llm.request_count < 9
    assert f"spent so far ${first:,.4f} by earlier annotate commands" in out
    assert f"cap ${budget:,.4f}" in out and f"left ${budget - first:,.4f}" in out
    second = json.loads((run["path"] / "annotation" / "metrics.json").read_text())
    assert second["budget_exhausted"] and second["budget"]["spent_before"] == pytest.approx(first)
    assert second["n_cached_calls"] == first_calls

    # A larger cap lets the rest through.
    assert _annotate(run, "--budget", "1") == 0
    third = json.loads((run["path"] / "annotation" / "metrics.json").read_text())
    assert third["n_unannotated"] == 0 and third["n_labeled"] == N_TRAIN and fake_llm.request_count == 9

    # One scope for every cost: the run's ledger, all annotate commands together.
    entries = _annotate_entries(run)
    billed = [e for e in entries if not e["cached"]]
    direct = sum(e["dollars"] for e in billed)
    tokens = sum(e["prompt_tokens"] + e["completion_tokens"] for e in billed)
    comparison = (run["path"] / "annotation" / "comparison.md").read_text()
    assert "all annotate commands" in comparison
    assert f"| LLM calls sent (billed) | 1 | {len(billed)} |" in comparison
    assert f"| cached replies (free) | 0 | {len(entries) - len(billed)} |" in comparison
    assert f"| prompt + completion tokens (billed) | 330 | {tokens:,} |" in comparison
    assert f"| dollars | {PROGRAMS_DOLLARS:.4f} | {direct:.4f} |" in comparison
    ratio = direct / PROGRAMS_DOLLARS
    assert f"Direct labeling cost {format_ratio(ratio)}× what the programs cost" in comparison
    shown = float(re.search(r"cost ([0-9.,]+)×", comparison).group(1).replace(",", ""))
    assert shown == pytest.approx(ratio, rel=0.05)


def test_the_dry_run_prices_the_training_rows_as_the_report_does(finished_run, fake_llm, capsys):  # noqa: F811
    run = finished_run
    report = full_labeling_estimate(SPEC, run["data"], run["manifest"], ["text"], "gpt-3.5-turbo", pool="train")
    assert _annotate(run, "--budget", "1", "--dry-run") == 0
    out = capsys.readouterr().out
    assert fake_llm.request_count == 0
    assert f"${report['dollars']:,.4f} with gpt-3.5-turbo for the 180 rows of the training split 'train'" in out
    assert "cap $1.0000, spent so far $0.0000 by earlier annotate commands, left $1.0000" in out


def test_an_unknown_price_is_named_and_a_budget_needs_a_price(finished_run, fake_llm, tmp_path, capsys):  # noqa: F811
    # a dry run shows calls and tokens, and says the price is unknown instead of $0
    assert _annotate(finished_run, "--budget", "1", "--llm-model", "local-llama", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "an unknown price (the model is not in the price table) with local-llama" in out and "$0.0000 with" not in out
    # a budget on a model without a price could never hold: refused before any call
    assert _annotate(finished_run, "--budget", "1", "--llm-model", "local-llama") == 2
    assert "--budget needs the price of local-llama" in capsys.readouterr().err and fake_llm.request_count == 0
    # with a price table of the user's, it runs and prices its calls
    prices = tmp_path / "prices.yaml"
    prices.write_text("date: '2026-12-01'\nunit: per_1m_tokens\nmodels:\n  local-llama: {prompt: 0.5, completion: 1.5}\n")
    assert _annotate(finished_run, "--budget", "1", "--llm-model", "local-llama", "--price-table", str(prices)) == 0
    entries = _annotate_entries(finished_run)
    assert entries and all(e["price_known"] and e["dollars"] > 0 and e["price_table_date"] == "2026-12-01" for e in entries)


def test_the_comparison_never_prices_unknown_calls_at_zero():
    from alchemist_core.baseline import comparison_markdown, ledger_totals

    entries = [
        {"purpose": "code", "model": "gpt-4o-mini", "prompt_tokens": 500, "completion_tokens": 80, "dollars": 0.0001, "cached": False},
        {"purpose": "annotate", "model": "local-llama", "prompt_tokens": 900, "completion_tokens": 40, "dollars": 0.0,
         "price_known": False, "cached": False},
    ]  # fmt: skip
    annotation = {
        "model": "local-llama", "n_rows": 20, "n_labeled": 20, "estimate": {"batch_size": 20},
        "ledger": {"programs": ledger_totals(entries, exclude={"annotate"}), "annotate": ledger_totals(entries, purposes={"annotate"})},
    }  # fmt: skip
    text = comparison_markdown({}, annotation)
    assert "| dollars | 0.0001 | unknown price |" in text
    assert "No cost ratio: some calls were made with a model whose price is unknown" in text and "×" not in text
