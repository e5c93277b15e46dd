"""Spending caps, user prices, per-call progress lines and the checks made before a run starts."""

from __future__ import annotations

import logging

import pytest

from alchemist_core.config import OpenAIConfig
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.base import GenerationContext
from alchemist_core.generators.openai import OpenAIGenerator
from alchemist_core.llm.client import BudgetExceeded
from alchemist_core.llm.pricing import configured_price_table
from alchemist_core.llm.setup import build_llm_client, check_llm_settings
from alchemist_core.runs import start_run_folder
from alchemist_core.spec import load_spec
from tests.fake_llm import fake_llm  # noqa: F401 - the fixture

MESSAGES = [{"role": "user", "content": "Write a labeling program for spam. " * 20}]


def _settings(url, **changes):
    return OpenAIConfig(base_url=url, model="gpt-3.5-turbo", timeout=5, max_retries=0, max_concurrency=1, **changes).model_dump(mode="json")


def test_a_call_that_could_pass_the_cap_is_not_sent(fake_llm, tmp_path):  # noqa: F811
    probe = build_llm_client(_settings(fake_llm.url), cache=Storage(str(tmp_path / "c0")), ledger_storage=Storage(str(tmp_path / "r0")))
    worst = probe.worst_case_dollars(MESSAGES)
    # room for one worst case and a little: the first call fits, the second no longer does
    settings = _settings(fake_llm.url, budget_usd=worst * 1.05)
    run = Storage(str(tmp_path / "run"))
    client = build_llm_client(settings, cache=Storage(str(tmp_path / "cache")), ledger_storage=run, capped=True)
    first = client.complete(MESSAGES, purpose="code", n_sample=0)
    assert first.dollars > worst * 0.05  # what the call really cost is more than what the cap has left
    with pytest.raises(BudgetExceeded, match=r"the budget cap of \$0\.00\d+ would be passed"):
        client.complete(MESSAGES, purpose="code", n_sample=1)
    assert fake_llm.request_count == 1
    # a cached reply costs nothing and is always answered
    assert client.complete(MESSAGES, purpose="code", n_sample=0).cached

    # a later command on the same run starts from what the ledger says was spent
    again = build_llm_client(settings, cache=Storage(str(tmp_path / "cache")), ledger_storage=run, capped=True)
    assert again.budget.spent_before == pytest.approx(first.dollars)
    with pytest.raises(BudgetExceeded):
        again.complete(MESSAGES, purpose="code", n_sample=2)
    # raising the cap lets the call through
    raised = build_llm_client(
        _settings(fake_llm.url, budget_usd=worst * 3), cache=Storage(str(tmp_path / "cache")), ledger_storage=run, capped=True
    )
    assert not raised.complete(MESSAGES, purpose="code", n_sample=2).cached
    assert raised.budget.spent <= worst * 3
    # an annotate client is not capped by the generation budget
    assert build_llm_client(settings, cache=Storage(str(tmp_path / "cache")), ledger_storage=run).budget is None


def test_the_generator_keeps_what_it_wrote_before_the_cap(fake_llm, tmp_path):  # noqa: F811
    probe = build_llm_client(_settings(fake_llm.url), cache=Storage(str(tmp_path / "c0")), ledger_storage=Storage(str(tmp_path / "r0")))
    spec = load_spec("youtube")
    generator = OpenAIGenerator(probe, supplement_kinds=("none",))
    worst = probe.worst_case_dollars(generator.code_request(spec, generator.plan(1, 0)[0], None).messages)
    client = build_llm_client(
        _settings(fake_llm.url, budget_usd=worst * 1.05), cache=Storage(str(tmp_path / "cache")),
        ledger_storage=Storage(str(tmp_path / "run")), capped=True,
    )  # fmt: skip
    rows = [{"text": t} for t in ("check out my channel", "love this song", "http://x.example", "great voice")]
    result = OpenAIGenerator(client, supplement_kinds=("none",)).generate(GenerationContext(spec=spec, sample_rows=rows, n_programs=3))
    assert result.program_set.names == ["llm_p00_none"] and fake_llm.request_count == 1
    assert [r.name for r in result.rejected] == ["llm_p01_none", "llm_p02_none"]
    assert all("budget cap" in r.reason for r in result.rejected)
    assert result.details["n_refused_by_budget"] == 2 and len(result.details["rounds"]) == 1  # no replacement round
    assert result.details["budget"]["spent_usd"] <= result.details["budget"]["cap_usd"]


def test_every_call_is_one_progress_line(fake_llm, tmp_path, caplog):  # noqa: F811
    client = build_llm_client(_settings(fake_llm.url), cache=Storage(str(tmp_path / "cache")), ledger_storage=Storage(str(tmp_path)))
    with caplog.at_level(logging.INFO, logger="alchemist_core.llm.client"):
        client.complete(MESSAGES, purpose="code")
        client.complete(MESSAGES, purpose="code")
    lines = [r.getMessage() for r in caplog.records if r.name == "alchemist_core.llm.client"]
    assert len(lines) == 2
    assert lines[0].startswith("LLM call 1: code, gpt-3.5-turbo, ") and "$0.0" in lines[0] and "tokens" in lines[0]
    assert lines[1].startswith("LLM call 2: code, gpt-3.5-turbo, ") and lines[1].endswith("from the cache, $0")


def test_user_prices_replace_the_table_without_editing_it(tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("date: '2026-11-30'\nunit: per_1m_tokens\nmodels:\n  gpt-4o-mini: {prompt: 0.3, completion: 1.2}\n  my-model: {prompt: 1, completion: 2}\n")
    prices = configured_price_table(table)
    assert prices.date == "2026-11-30" and prices.price("my-model").known
    assert prices.cost("gpt-4o-mini", prompt_tokens=1_000_000, completion_tokens=0) == pytest.approx(0.3)
    assert prices.cost("gpt-4", prompt_tokens=1000, completion_tokens=0) == pytest.approx(0.03)  # shipped entries stay
    assert not prices.price("unlisted").known
    keyed = configured_price_table(model="unlisted", input_per_1m=2.0, output_per_1m=4.0)
    assert keyed.price("unlisted").known and keyed.cost("unlisted", prompt_tokens=500_000, completion_tokens=250_000) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="input_price_per_1m and output_price_per_1m go together"):
        OpenAIConfig(input_price_per_1m=1.0)


def test_settings_are_checked_before_anything_starts(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(InputError, match=r"no endpoint: set the API key in \$OPENAI_API_KEY, or give --llm-base-url"):
        check_llm_settings(OpenAIConfig().model_dump(mode="json"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    check_llm_settings(OpenAIConfig().model_dump(mode="json"))
    with pytest.raises(InputError, match=r"\['local-llama'\] is not in the price table"):
        check_llm_settings(OpenAIConfig(model="local-llama", budget_usd=1.0).model_dump(mode="json"))
    check_llm_settings(
        OpenAIConfig(model="local-llama", budget_usd=1.0, input_price_per_1m=0.1, output_price_per_1m=0.2).model_dump(mode="json")
    )


def test_a_run_folder_is_never_taken_over_by_another_kind_of_run(tmp_path):
    root = Storage(str(tmp_path))
    config = {"spec": "youtube", "seed": 0, "run_id": "shared"}
    start_run_folder(root, config, "abc", kind="label")
    assert (tmp_path / "runs" / "shared" / "run.json").exists()
    start_run_folder(root, config, "abc", kind="label")  # resuming the same run is fine
    with pytest.raises(InputError, match="holds a label run; a review run there would overwrite its report"):
        start_run_folder(root, config, "abc", kind="review")
    # derived run ids of a review and a labeling run differ
    review = start_run_folder(root, {"spec": "youtube", "seed": 0}, "abc", prefix="review-", kind="review")
    label = start_run_folder(root, {"spec": "youtube", "seed": 0}, "abc", kind="label")
    assert review.run_id == "review-" + label.run_id
    # a folder written before run.json existed is recognised by its artifacts
    legacy = tmp_path / "runs" / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text("{}")
    (legacy / "metrics.json").write_text("{}")
    with pytest.raises(InputError, match="holds a labeling run"):
        start_run_folder(root, {"spec": "youtube", "seed": 0, "run_id": "legacy"}, "abc", kind="review")


def test_an_image_run_is_checked_only_where_it_calls_the_llm(monkeypatch):
    from alchemist_core.images.pipeline import load_image_config
    from alchemist_core.runs import check_ready

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    check_ready(load_image_config())  # the demo: its own concepts, offline programs
    check_ready(load_image_config(overrides={"data.source": "photos/", "concepts.path": "concepts.yaml"}))
    with pytest.raises(InputError, match="no endpoint"):
        check_ready(load_image_config(overrides={"data.source": "photos/"}))  # the LLM names the concepts
    with pytest.raises(InputError, match="no endpoint"):
        check_ready(load_image_config(overrides={"generator.kind": "openai"}))
