import json
import logging
import math

import pytest

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.prompts import annotate_messages
from alchemist_core.llm import Ledger, estimate_annotation_cost, load_price_table
from alchemist_core.llm.pricing import estimate_message_tokens, estimate_tokens
from alchemist_core.spec import parse_spec

SPEC = parse_spec(
    {
        "name": "sms",
        "instruction": "Decide whether an SMS message is spam.",
        "classes": [{"name": "ham"}, {"name": "spam"}],
    }
)


def entry(model, purpose, prompt, completion, dollars, *, cached=False, usage_reported=True):
    return {
        "model": model,
        "purpose": purpose,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "dollars": 0.0 if cached else dollars,
        "cached": cached,
        "usage_reported": usage_reported,
        "price_known": True,
        "price_table_date": "2024-07-18",
    }


# -- ledger ----------------------------------------------------------------------------------------
def test_ledger_appends_one_json_line_per_call(tmp_path):
    ledger = Ledger(Storage(str(tmp_path)))
    ledger.record(entry("gpt-4", "supplement", 100, 50, 0.006))
    ledger.record(entry("gpt-3.5-turbo", "code", 200, 100, 0.00025))
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["purpose"] for line in lines] == ["supplement", "code"]
    assert ledger.entries()[0]["model"] == "gpt-4"


def test_summary_totals_by_model_and_purpose(tmp_path):
    ledger = Ledger(Storage(str(tmp_path)), path="runs/ledger.jsonl")
    ledger.record(entry("gpt-4", "supplement", 100, 50, 0.006))
    ledger.record(entry("gpt-3.5-turbo", "code", 200, 100, 0.00025))
    ledger.record(entry("gpt-3.5-turbo", "repair", 300, 100, 0.0003))
    ledger.record(entry("gpt-3.5-turbo", "code", 200, 100, 0.00025, cached=True))
    ledger.record(entry("local", "code", 0, 0, 0.0, usage_reported=False))
    summary = ledger.summary()
    assert (summary["calls"], summary["api_calls"], summary["cached_calls"]) == (5, 4, 1)
    # billed tokens: API calls only
    assert (summary["prompt_tokens"], summary["completion_tokens"]) == (600, 250)
    assert summary["dollars"] == pytest.approx(0.00655)
    assert summary["usage_missing"] == 1
    by_model = summary["by_model"]
    assert by_model["gpt-4"]["dollars"] == pytest.approx(0.006)
    assert (by_model["gpt-3.5-turbo"]["calls"], by_model["gpt-3.5-turbo"]["cached_calls"]) == (3, 1)
    assert summary["by_purpose"]["repair"]["api_calls"] == 1
    assert summary["price_table_dates"] == ["2024-07-18"]


def test_empty_ledger_and_unreadable_lines(tmp_path, caplog):
    ledger = Ledger(Storage(str(tmp_path)))
    assert ledger.entries() == [] and ledger.summary()["calls"] == 0
    ledger.record(entry("gpt-4", "code", 1, 1, 0.1))
    with open(ledger.uri, "a") as handle:
        handle.write("{not json\n")
    with caplog.at_level(logging.WARNING):
        assert len(ledger.entries()) == 1
    assert "skipping unreadable line 2" in caplog.text


def test_ledger_on_object_storage():
    ledger = Ledger(Storage("memory://alchemist-ledger-test"))
    ledger.record(entry("gpt-4", "code", 10, 10, 0.0009))
    ledger.record(entry("gpt-4", "code", 10, 10, 0.0009))
    assert ledger.summary()["api_calls"] == 2


# -- price table --------------------------------------------------------------------------------------
def test_shipped_price_table_has_the_papers_prices():
    table = load_price_table()
    assert table.date == "2024-07-18"
    price = table.price("gpt-3.5-turbo")
    assert (price.prompt_per_1k, price.completion_per_1k, price.known) == (0.0005, 0.0015, True)
    assert (table.price("gpt-4").prompt_per_1k, table.price("gpt-4").completion_per_1k) == (0.03, 0.06)
    assert table.price("claude-3-sonnet-20240229").completion_per_1k == 0.015
    for model in ("gpt-4o", "gpt-4o-mini", "claude-2.1"):
        assert table.price(model).known


@pytest.mark.parametrize(
    "model, entry_name",
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4omni", "default"),
        ("llama3:8b", "default"),
    ],
)
def test_models_match_the_longest_entry(model, entry_name):
    assert load_price_table().price(model).entry == entry_name


def test_unknown_model_costs_zero_and_warns_once(caplog):
    table = load_price_table()
    with caplog.at_level(logging.WARNING):
        assert table.cost("my-local-model", prompt_tokens=1000, completion_tokens=1000) == 0.0
        assert not table.price("my-local-model").known
    assert caplog.text.count("'my-local-model' is not in the price table") == 1


def test_user_price_table_per_million_tokens(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "date: '2025-01-01'\nunit: per_1m_tokens\nmodels:\n"
        "  my-model: {prompt: 1.0, completion: 2.0}\n  default: {prompt: 0.5, completion: 0.5, unknown: true}\n"
    )
    table = load_price_table(path)
    assert table.cost("my-model", prompt_tokens=1_000_000, completion_tokens=500_000) == pytest.approx(2.0)
    assert table.price("other").entry == "default" and not table.price("other").known
    assert table.cost("other", prompt_tokens=2_000_000, completion_tokens=0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("models: {}", "expected a mapping with 'date'"),
        ("date: x\nunit: per_token\nmodels: {}", "unit 'per_token' is unknown"),
        ("date: x\nmodels:\n  m: {prompt: -1, completion: 1}", "m.prompt must be a number >= 0"),
        ("date: x\nmodels:\n  m: {prompt: 1}", "entry 'm' needs 'prompt' and 'completion'"),
        ("date: [", "not valid YAML"),
    ],
)
def test_malformed_price_tables_are_input_errors(tmp_path, text, message):
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_price_table(path)


def test_missing_price_table(tmp_path):
    with pytest.raises(InputError, match="no price table at"):
        load_price_table(tmp_path / "nope.yaml")


# -- estimates -----------------------------------------------------------------------------------------
ROWS = [{"text": f"Message number {i}: WINNER! claim your free prize now"} for i in range(50)]


def test_estimate_annotation_cost_scales_with_rows():
    table = load_price_table()
    small = estimate_annotation_cost(SPEC, ROWS, 1_000, "gpt-3.5-turbo", table, batch_size=20)
    large = estimate_annotation_cost(SPEC, ROWS, 10_000, "gpt-3.5-turbo", table, batch_size=20)
    assert (small.n_calls, large.n_calls) == (50, 500)
    assert large.prompt_tokens == pytest.approx(10 * small.prompt_tokens, rel=0.01)
    assert large.dollars == pytest.approx(10 * small.dollars, rel=0.01)
    assert small.dollars == pytest.approx((small.prompt_tokens * 0.0005 + small.completion_tokens * 0.0015) / 1000)
    assert "estimate" in small.method and small.price_known and small.price_table_date == "2024-07-18"


def test_estimate_matches_the_rendered_prompts():
    table = load_price_table()
    estimate = estimate_annotation_cost(SPEC, ROWS, 50, "gpt-4", table, batch_size=10)
    actual = sum(estimate_message_tokens(annotate_messages(SPEC, ROWS[i : i + 10])) for i in range(0, 50, 10))
    assert estimate.n_calls == 5
    assert estimate.prompt_tokens == pytest.approx(actual, rel=0.02)
    assert estimate.completion_tokens == 5 * 2 + 2 * 50


def test_bigger_batches_cost_less():
    table = load_price_table()
    one = estimate_annotation_cost(SPEC, ROWS, 1_000, "gpt-4", table, batch_size=1)
    twenty = estimate_annotation_cost(SPEC, ROWS, 1_000, "gpt-4", table, batch_size=20)
    assert one.n_calls == 1_000 and twenty.dollars < one.dollars


def test_estimate_for_an_unknown_model_is_flagged():
    estimate = estimate_annotation_cost(SPEC, ROWS, 100, "local-model", load_price_table(), batch_size=20)
    assert estimate.dollars == 0.0 and not estimate.price_known and estimate.prompt_tokens > 0


def test_estimate_arguments_are_checked():
    table = load_price_table()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        estimate_annotation_cost(SPEC, ROWS, 10, "gpt-4", table, batch_size=0)
    with pytest.raises(ValueError, match="rows_sample is empty"):
        estimate_annotation_cost(SPEC, [], 10, "gpt-4", table, batch_size=5)
    assert estimate_annotation_cost(SPEC, [], 0, "gpt-4", table, batch_size=5).n_calls == 0


def test_estimate_tokens_is_characters_over_four():
    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    assert estimate_message_tokens([{"role": "user", "content": "abcd" * 10}]) == 4 + 10 + 3
    assert math.isclose(estimate_tokens("x" * 4000), 1000)
