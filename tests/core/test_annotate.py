import math

import numpy as np
import pytest

from alchemist_core.annotate import annotate_rows
from alchemist_core.baseline import comparison_markdown, format_ratio, ledger_totals
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.prompts import annotate_messages
from alchemist_core.llm import Ledger, LLMClient, LLMEndpoint, LLMError, ResponseCache
from alchemist_core.llm.pricing import estimate_message_tokens, estimate_reply_tokens
from alchemist_core.spec import parse_spec
from tests import fake_llm as fake_server
from tests.fake_llm import Fail, Reply, spam_rule

fake_llm = fake_server.fake_llm  # the fixture

SPEC = parse_spec(
    {
        "name": "youtube",
        "instruction": "Decide whether a YouTube comment is spam.",
        "classes": [{"name": "ham"}, {"name": "spam"}],
    }
)

TEXTS = [
    "Check out my channel",
    "lovely song",
    "free iPhone here http://x.example",
    "this brings back memories",
    "subscribe to me",
    "great voice",
    "www.promo.example",
    "2013 anyone?",
    "best video ever",
    "visit my channel for free stuff",
    "so catchy",
]
ROWS = [{"text": t} for t in TEXTS]
EXPECTED = np.array([spam_rule(t) for t in TEXTS])


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("ALCHEMIST_UNSET_KEY", raising=False)


def make_client(url, root, *, ledger_path="ledger.jsonl", **options):
    endpoint = LLMEndpoint(
        base_url=url, model="gpt-3.5-turbo", api_key_env="ALCHEMIST_UNSET_KEY", timeout=1.0, max_retries=0, **options
    )
    storage = Storage(str(root))
    return LLMClient(endpoint, cache=ResponseCache(storage.child("cache", "llm")), ledger=Ledger(storage, ledger_path))


def batch_estimate(client, rows):
    messages = annotate_messages(SPEC, rows)
    return client.price().cost(estimate_message_tokens(messages), estimate_reply_tokens(len(rows)))


def test_dry_run_only_estimates(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path)
    result = annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=1.0, dry_run=True)
    assert fake_llm.request_count == 0 and result.dry_run
    assert result.estimate.n_calls == 3 and result.estimate.dollars > 0
    assert (result.labels == -1).all() and result.n_unannotated == len(ROWS)
    assert (result.n_calls, result.dollars) == (0, 0.0)


def test_batches_label_every_row(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path)
    result = annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=1.0)
    np.testing.assert_array_equal(result.labels, EXPECTED)
    assert result.n_calls == fake_llm.request_count == math.ceil(len(ROWS) / 4)
    batch_sizes = [len(r["body"]["messages"][-1]["content"].split("\nRow ")) - 1 for r in fake_llm.requests]
    assert sorted(batch_sizes) == [3, 4, 4]  # concurrent requests arrive in any order
    assert all(r["body"]["temperature"] == 0.0 for r in fake_llm.requests)
    assert result.dollars > 0 and result.dollars == pytest.approx(client.ledger.summary()["dollars"])
    assert not result.budget_exhausted and result.n_unannotated == 0 and result.n_unusable == 0
    assert {e["purpose"] for e in client.ledger.entries()} == {"annotate"}
    # the estimate is in the right range of what was billed
    assert 0.3 < result.estimate.dollars / result.dollars < 3


def test_the_budget_cap_stops_before_an_unaffordable_call(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path, max_concurrency=1)
    first, second = ROWS[0:3], ROWS[3:6]
    budget = batch_estimate(client, first) + batch_estimate(client, second) * 1.5
    result = annotate_rows(client, SPEC, ROWS, batch_size=3, budget_usd=budget)
    assert result.budget_exhausted
    assert fake_llm.request_count == result.n_calls < 4
    annotated = result.n_calls * 3
    assert result.n_unannotated == len(ROWS) - annotated
    np.testing.assert_array_equal(result.labels[:annotated], EXPECTED[:annotated])
    assert (result.labels[annotated:] == -1).all()
    assert result.dollars <= budget


def test_a_zero_budget_makes_no_call(fake_llm, tmp_path):
    result = annotate_rows(make_client(fake_llm.url, tmp_path), SPEC, ROWS, batch_size=5, budget_usd=0.0)
    assert fake_llm.request_count == 0 and result.budget_exhausted and result.n_unannotated == len(ROWS)


def test_a_rerun_is_cached_and_free_even_with_no_budget(fake_llm, tmp_path):
    annotate_rows(make_client(fake_llm.url, tmp_path), SPEC, ROWS, batch_size=4, budget_usd=1.0)
    client = make_client(fake_llm.url, tmp_path, ledger_path="rerun.jsonl")
    result = annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=0.0)
    assert fake_llm.request_count == 3 and result.n_cached_calls == 3
    assert result.dollars == 0.0 and not result.budget_exhausted
    np.testing.assert_array_equal(result.labels, EXPECTED)
    assert client.ledger.summary()["cached_calls"] == 3


def test_an_unusable_reply_leaves_its_rows_unlabeled(fake_llm, tmp_path):
    fake_llm.enqueue(Reply("These look like spam to me."))
    client = make_client(fake_llm.url, tmp_path, max_concurrency=1)
    result = annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=1.0)
    assert result.n_unusable == 4
    assert (result.labels[:4] == -1).all()
    np.testing.assert_array_equal(result.labels[4:], EXPECTED[4:])


def test_a_failing_endpoint_raises(fake_llm, tmp_path):
    fake_llm.enqueue(Fail(401))
    with pytest.raises(LLMError, match="HTTP 401"):
        annotate_rows(make_client(fake_llm.url, tmp_path, max_concurrency=1), SPEC, ROWS, batch_size=4, budget_usd=1.0)


@pytest.mark.parametrize(
    "options, message",
    [({"batch_size": 0}, "batch_size must be >= 1"), ({"budget_usd": -1}, "budget_usd must be >= 0")],
)
def test_arguments_are_checked(tmp_path, options, message):
    client = make_client("http://127.0.0.1:9/v1", tmp_path)
    with pytest.raises(InputError, match=message):
        annotate_rows(client, SPEC, ROWS, **{"batch_size": 4, "budget_usd": 1.0, **options})


def test_every_unusable_reply_is_counted(fake_llm, tmp_path):
    fake_llm.enqueue(Reply("no idea"), Reply("no idea"), Reply("no idea"))
    result = annotate_rows(make_client(fake_llm.url, tmp_path), SPEC, ROWS, batch_size=4, budget_usd=1.0)
    assert (result.n_calls, result.n_unusable_replies, result.n_unusable) == (3, 3, len(ROWS))
    assert result.n_labeled == 0 and (result.labels == -1).all()


def test_labeled_rows_leave_out_unusable_and_unsent_rows(fake_llm, tmp_path):
    fake_llm.enqueue(Reply("no idea"))
    client = make_client(fake_llm.url, tmp_path, max_concurrency=1)
    budget = batch_estimate(client, ROWS[0:4]) + batch_estimate(client, ROWS[4:8])
    result = annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=budget)
    assert (result.n_calls, result.n_unusable_replies, result.n_unusable, result.n_unannotated) == (2, 1, 4, 3)
    assert result.n_labeled == 4


def test_a_given_estimate_must_be_for_the_same_rows(tmp_path):
    client = make_client("http://127.0.0.1:9/v1", tmp_path)
    estimate = annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=1.0, dry_run=True).estimate
    assert annotate_rows(client, SPEC, ROWS, batch_size=4, budget_usd=1.0, dry_run=True, estimate=estimate).estimate == estimate
    with pytest.raises(InputError, match="the estimate is for 11 rows"):
        annotate_rows(client, SPEC, ROWS[:5], batch_size=4, budget_usd=1.0, dry_run=True, estimate=estimate)


@pytest.mark.parametrize(
    "ratio, shown",
    [(0.0009 / 0.0016, "0.56"), (0.0123, "0.012"), (1.04, "1.0"), (2.345, "2.3"), (9.96, "10"), (12.4, "12"), (1234.4, "1,234")],
)
def test_ratios_are_right_at_every_size(ratio, shown):
    assert format_ratio(ratio) == shown


def _annotation(**fields):
    annotation = {
        "model": "gpt-4o-mini", "n_rows": 100, "n_labeled": 100, "n_calls": 5, "n_unusable": 0, "n_unusable_replies": 0,
        "n_unannotated": 0, "n_abstained": 0, "estimate": {"batch_size": 20}, "budget": {"cap": 1.0},
        "ledger": {
            "programs": {"calls": 4, "api_calls": 4, "cached_calls": 0, "tokens": 4000, "dollars": 0.0016},
            "annotate": {"calls": 5, "api_calls": 5, "cached_calls": 0, "tokens": 3000, "dollars": 0.0009},
        },
    }  # fmt: skip
    annotation.update(fields)
    return annotation


def test_a_cheaper_direct_labeling_is_worded_as_cheaper():
    text = comparison_markdown({}, _annotation())
    assert "1×" not in text
    assert "Direct labeling was cheaper: it cost 0.56× what the programs cost" in text
    assert "the programs cost 1.8× as much" in text


def test_a_dearer_direct_labeling_gets_its_ratio():
    ledger = _annotation()["ledger"]
    ledger["annotate"] = {**ledger["annotate"], "dollars": 0.0016 * 37.4}
    assert "Direct labeling cost 37× what the programs cost" in comparison_markdown({}, _annotation(ledger=ledger))


def test_the_comparison_counts_unusable_and_unsent_rows_and_takes_costs_from_the_ledger():
    annotation = _annotation(
        n_labeled=40, n_calls=4, n_unusable=40, n_unusable_replies=2, n_unannotated=20, budget_exhausted=True,
        dollars=123.0,  # this command's dollars: not what the table shows
    )  # fmt: skip
    text = comparison_markdown({}, annotation)
    assert "labeled 100" not in text and "100 training rows" not in text.replace("of 100 training rows", "")
    assert "gave a usable label to 40 of 100 training rows" in text
    assert "40 rows got no label because 2 of 4 replies were unusable" in text
    assert "20 rows were never sent" in text
    assert "every `annotate` command on this run so far" in text and "all annotate commands" in text
    assert "| dollars | 0.0016 | 0.0009 |" in text and "| LLM calls sent (billed) | 4 | 5 |" in text
    assert "123" not in text


def test_ledger_totals_count_billed_and_cached_calls_apart():
    entries = [
        {"purpose": "annotate", "prompt_tokens": 10, "completion_tokens": 2, "dollars": 0.5, "cached": False},
        {"purpose": "annotate", "prompt_tokens": 10, "completion_tokens": 2, "dollars": 0.0, "cached": True},
        {"purpose": "code", "prompt_tokens": 7, "completion_tokens": 3, "dollars": 0.25, "cached": False},
    ]
    assert ledger_totals(entries, purposes={"annotate"}) == {
        "calls": 2, "api_calls": 1, "cached_calls": 1, "tokens": 12, "dollars": 0.5, "price_unknown": 0,
    }  # fmt: skip
    assert ledger_totals(entries, exclude={"annotate"})["dollars"] == 0.25
