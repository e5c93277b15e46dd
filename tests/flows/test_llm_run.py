"""The LLM path end to end: a run against a local OpenAI-compatible server, its cache and cost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alchemist_core.config import load_config
from flows.cli import main as cli
from tests.fake_llm import fake_llm  # noqa: F401 - the fixture

SECRET = "sk-test-run-secret-0123456789"


@pytest.fixture(scope="module")
def youtube_like_csv(tmp_path_factory) -> Path:
    """A small labeled comment dataset with train/valid/test splits."""
    import random

    rng = random.Random(0)
    spam = ["check out my channel", "subscribe to me please", "visit my site http://x.example", "free gift card click here"]
    ham = ["love this song", "great video", "this song brings back memories", "the singer is amazing"]
    lines = ["id,text,label,split"]
    for i in range(300):
        spammy = rng.random() < 0.5
        text = rng.choice(spam if spammy else ham) + rng.choice(["", "!", " :)", " so good", " lol"])
        split = "test" if i % 5 == 0 else ("valid" if i % 5 == 1 else "train")
        lines.append(f"c{i},{text},{1 if spammy else 0},{split}")
    path = tmp_path_factory.mktemp("llm") / "comments.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(tmp_path, data, url):
    return load_config(
        overrides={
            "spec": "youtube",
            "data.source": str(data),
            "data.split_field": "split",
            "data.id_field": "id",
            "generator.kind": "openai",
            "generator.n_programs": 4,
            "generator.openai.base_url": url,
            "generator.openai.model": "gpt-3.5-turbo",
            "generator.openai.timeout": 5,
            "generator.openai.supplement_kinds": ["none", "keywords"],
            "student.features": "tfidf",
            "student.model": "logreg",
            "dask.address": "synchronous",
            "storage": str(tmp_path / "store"),
        }
    )


def test_llm_run_generates_caches_and_costs(prefect_harness, fake_llm, youtube_like_csv, tmp_path, monkeypatch, capsys):  # noqa: F811
    from flows.label_dataset import label_dataset

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    config = _config(tmp_path, youtube_like_csv, fake_llm.url)
    first = label_dataset(config)
    run = Path(first["run_root"])
    requests_after_first = fake_llm.request_count
    assert requests_after_first >= 4
    programs = json.loads((run / "programs" / "manifest.json").read_text())["programs"]
    assert programs and all(p["origin"]["generator"] == "openai" for p in programs)
    ledger = [json.loads(line) for line in (run / "ledger.jsonl").read_text().splitlines()]
    assert sum(e["dollars"] for e in ledger if not e["cached"]) > 0
    report = (run / "report.md").read_text()
    assert "## Cost" in report and "gpt-3.5-turbo" in report and "would cost about" in report
    assert first["metrics"]["label_model.test.accuracy"] > 0.7

    # The same configuration again, in a fresh run folder: no HTTP request, $0 in the ledger.
    again = config.model_copy(update={"run_id": "second"})
    second = label_dataset(again)
    assert fake_llm.request_count == requests_after_first
    ledger2 = [json.loads(line) for line in (Path(second["run_root"]) / "ledger.jsonl").read_text().splitlines()]
    assert ledger2 and all(e["cached"] for e in ledger2) and sum(e["dollars"] for e in ledger2) == 0

    # The paper's baseline: a dry run estimates, a real one labels every training row within the budget.
    capsys.readouterr()
    assert cli(["annotate", "--run", str(run), "--budget", "1", "--dry-run"]) == 0
    assert fake_llm.request_count == requests_after_first
    dry_run = capsys.readouterr().out
    estimate = re.search(r"estimate: .* (\$[0-9.,]+) with gpt-3\.5-turbo for the ([0-9,]+) rows of the training split", dry_run)
    assert estimate and estimate.group(2) == "180", dry_run
    # The report priced the same pool with the same estimator: the same dollars, on the line about those 180 rows.
    assert any(estimate.group(1) in line and "180" in line for line in report.splitlines()), (estimate.group(1), report)
    assert cli(["annotate", "--run", str(run), "--budget", "1", "--batch-size", "25"]) == 0
    comparison = (run / "annotation" / "comparison.md").read_text()
    assert "| dollars |" in comparison and "direct labeling" in comparison
    assert "## Programs vs. direct LLM labeling" in (run / "report.md").read_text()
    annotation = json.loads((run / "annotation" / "metrics.json").read_text())
    assert annotation["n_calls"] == 8 and annotation["label_quality"]["accuracy"] > 0.8

    # The key never reached an artifact.
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".py"):
            assert SECRET not in path.read_text(errors="ignore"), path
