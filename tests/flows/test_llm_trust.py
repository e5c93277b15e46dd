"""LLM runs a user can trust: no success without programs, cost before spending, a hard budget,
truthful reports, and runs that never overwrite each other (against a local fake endpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flows.cli import main as cli
from tests.fake_llm import BROKEN, PROGRAMS, Reply, fake_llm  # noqa: F401 - the fixture
from tests.flows.test_llm_run import youtube_like_csv  # noqa: F401 - the fixture


@pytest.fixture
def llm_config(tmp_path, fake_llm, youtube_like_csv) -> Path:  # noqa: F811
    """A run config for the fake endpoint: one-stage prompts, one call at a time, no repairs."""
    path = tmp_path / "llm.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "spec": "youtube",
                "data": {"source": str(youtube_like_csv), "split_field": "split", "id_field": "id"},
                "generator": {
                    "kind": "openai",
                    "n_programs": 4,
                    "openai": {
                        "base_url": fake_llm.url, "model": "local-llama", "supplement_kinds": ["none"], "max_repairs": 0,
                        "max_concurrency": 1, "timeout": 5, "max_retries": 0,
                    },
                },
                "student": {"enabled": False},
                "dask": {"address": "synchronous"},
                "storage": str(tmp_path / "store"),
            }
        )
    )
    return path


def test_a_run_without_a_usable_program_fails_and_names_every_rejection(
    prefect_harness, fake_llm, llm_config, tmp_path, capsys  # noqa: F811
):
    fake_llm.enqueue(*[BROKEN] * 20)
    assert cli(["run", "--config", str(llm_config)]) == 2
    err = capsys.readouterr().err
    assert "alchemist: error: no usable labeling program: the openai generator accepted none of its candidates" in err
    # the 4 candidates and the 4 asked for in their place, each with its reason
    for index in range(8):
        assert f"  - llm_p{index:02d}_none: breaks the sandbox policy: line 1: syntax error" in err
    rejected_files = list((tmp_path / "store" / "runs").glob("*/programs/rejected.json"))
    assert len(rejected_files) == 1 and rejected_files[0].as_posix() in err
    rejected = json.loads(rejected_files[0].read_text())["rejected"]
    assert len(rejected) == 8 and all("def label(x)" in r["source"] for r in rejected)
    run = rejected_files[0].parent.parent
    assert not (run / "report.md").exists() and not (run / "metrics.json").exists()

    # generate fails the same way
    fake_llm.enqueue(*[BROKEN] * 20)
    assert cli(["generate", "--config", str(llm_config), "--refresh"]) == 2
    assert "no usable labeling program" in capsys.readouterr().err


def test_a_missing_endpoint_fails_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    store = tmp_path / "store"
    assert cli(["run", "--generator", "openai", "--spec", "youtube", "--storage", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alchemist: error: the LLM generator has no endpoint: set the API key in $OPENAI_API_KEY")
    assert "Traceback" not in err and not (store / "runs").exists() and not (store / "datasets").exists()  # nothing started
    assert (store / "logs").is_dir()  # only the command's log, with the traceback


def test_a_budget_needs_a_known_price(tmp_path, capsys, fake_llm):  # noqa: F811
    store = tmp_path / "store"
    args = ["run", "--generator", "openai", "--llm-base-url", fake_llm.url, "--llm-model", "local-llama", "--storage", str(store)]
    assert cli([*args, "--budget", "1"]) == 2
    assert "a budget needs the price of every model it caps, and ['local-llama'] is not in the price table" in capsys.readouterr().err
    prices = tmp_path / "prices.yaml"
    prices.write_text("date: '2026-12-01'\nunit: per_1m_tokens\nmodels:\n  local-llama: {prompt: 0.1, completion: 0.2}\n")
    assert cli([*args, "--budget", "1", "--price-table", str(prices), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "local-llama: $0.0001 / $0.0002 per 1K prompt / completion tokens" in out and "2026-12-01" in out
    assert fake_llm.request_count == 0 and not (store / "runs").exists() and not (store / "datasets").exists()


def test_dry_run_prices_the_calls_and_sends_nothing(prefect_harness, fake_llm, llm_config, capsys):  # noqa: F811
    args = ["--config", str(llm_config), "--llm-model", "gpt-3.5-turbo"]
    assert cli(["generate", *args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "planned LLM calls for 4 programs: 4 (4 code); 0 answered from the cache at $0, 4 to send" in out
    assert "estimated cost: $0.00" in out and "at most $" in out and "nothing was sent (dry run)" in out
    assert fake_llm.request_count == 0

    # after the programs were written, the same plan is answered from the cache
    assert cli(["generate", *args]) == 0
    sent = fake_llm.request_count
    capsys.readouterr()
    assert cli(["run", *args, "--dry-run"]) == 0
    assert "4 answered from the cache at $0, 0 to send" in capsys.readouterr().out
    assert fake_llm.request_count == sent


def test_a_budget_is_a_hard_cap(prefect_harness, fake_llm, llm_config, capsys):  # noqa: F811
    # gpt-3.5-turbo at $0.0015 per 1K completion tokens: a 1,500-token reply could cost $0.00225,
    # so a budget of $0.002 allows no call at all
    assert cli(["run", "--config", str(llm_config), "--llm-model", "gpt-3.5-turbo", "--budget", "0.002"]) == 2
    err = capsys.readouterr().err
    assert fake_llm.request_count == 0
    assert "no usable labeling program" in err and "the budget cap of $0.0020 would be passed" in err


def test_the_report_tells_how_each_program_was_sampled_and_what_was_dropped(
    prefect_harness, fake_llm, llm_config, capsys  # noqa: F811
):
    fake_llm.enqueue(Reply(PROGRAMS[0]), Reply(PROGRAMS[0]))
    assert cli(["run", "--config", str(llm_config)]) == 0
    out = capsys.readouterr().out
    report_path = Path(out.split("report: ")[1].split()[0])
    report = report_path.read_text()
    assert "4 programs requested, 5 candidates asked for in 2 rounds, 4 kept." in report
    assert "- `llm_p01_none`: the same source as `llm_p00_none`" in report
    # temperatures alternate round by round of supplement kinds (one kind here)
    assert "| `llm_p00_none` | local-llama | none | 0.70 | 0 | 0 | 0 |" in report
    assert "| `llm_p02_none` | local-llama | none | 0.70 | 2 | 2 | 0 |" in report
    assert "| `llm_p03_none` | local-llama | none | 1.00 | 3 | 3 | 0 |" in report
    assert "| `llm_p04_none` | local-llama | none | 0.70 | 4 | 4 | 0 |" in report
    # local-llama is not in the price table: the report says so wherever a price would show
    assert "| local-llama | 5 | 0 |" in report and "unknown price" in report
    assert "at an unknown price: local-llama is not in the price table" in report and "$0.0000" not in report

    # a review of the same configuration gets a folder of its own and leaves the labeling run alone
    run = report_path.parent
    before = report_path.read_text()
    assert cli(["generate", "--config", str(llm_config)]) == 0
    review = Path(capsys.readouterr().out.split("review: ")[1].split()[0])
    assert review.parent != run and review.parent.name.startswith("review-")
    assert report_path.read_text() == before
    assert "## How the programs were generated" in review.read_text()
    assert cli(["generate", "--config", str(llm_config), "--run-id", run.name]) == 2
    assert f"the run folder {run} holds a label run" in capsys.readouterr().err
    assert report_path.read_text() == before
