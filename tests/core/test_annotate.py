import math

import numpy as np
import pytest

from alchemist_core.annotate import annotate_rows
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.prompts import annotate_messages
from alchemist_core.llm import Ledger, LLMClient, LLMEndpoint, LLMError, ResponseCache
from alchemist_core.llm.pricing import estimate_message_tokens, estimate_reply_tokens
from alchemist_core.spec import parse_spec
from tests.fake_llm import Fail, Reply, fake_llm, spam_rule  # noqa: F401

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
