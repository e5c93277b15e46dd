import logging
import pickle
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.llm import (
    ChatRequest,
    Ledger,
    LLMClient,
    LLMEndpoint,
    LLMError,
    ResponseCache,
)
from alchemist_core.llm.client import retry_after_seconds
from tests.fake_llm import Fail, Hang, Malformed, Reply, fake_llm  # noqa: F401

MESSAGES = [{"role": "user", "content": "Write a labeling program for spam."}]
SECRET = "sk-alchemist-TESTKEY-0123456789abcdef"


def make_client(url, root, *, model="gpt-3.5-turbo", key_env="ALCHEMIST_TEST_KEY", **endpoint_options):
    options = {"timeout": 1.0, "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.05, **endpoint_options}
    endpoint = LLMEndpoint(base_url=url, model=model, api_key_env=key_env, **options)
    storage = Storage(str(root))
    return LLMClient(endpoint, cache=ResponseCache(storage.child("cache", "llm")), ledger=Ledger(storage))


@pytest.fixture
def client(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    return make_client(fake_llm.url, tmp_path)


def cache_files(root):
    return sorted(Path(root, "cache", "llm").rglob("*.json"))


# -- configuration ---------------------------------------------------------------------------------
def test_no_key_and_no_base_url_is_a_clear_input_error(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    endpoint = LLMEndpoint(base_url=None, model="gpt-4o-mini")
    with pytest.raises(InputError, match="no LLM endpoint configured: set OPENAI_API_KEY or give --llm-base-url"):
        LLMClient(endpoint).complete(MESSAGES, purpose="code")


def test_a_local_server_needs_no_key(fake_llm, tmp_path, monkeypatch):
    monkeypatch.delenv("UNSET_KEY_VARIABLE", raising=False)
    client = make_client(fake_llm.url, tmp_path, key_env="UNSET_KEY_VARIABLE")
    assert client.complete(MESSAGES, purpose="code").text
    assert fake_llm.requests[0]["headers"]["authorization"] == "Bearer EMPTY"


def test_endpoint_never_holds_the_key_and_hides_url_credentials(monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    url = "http://user:pw@127.0.0.1:8000/v1/?token=abc"
    endpoint = LLMEndpoint(base_url=url, model="m", api_key_env="ALCHEMIST_TEST_KEY")
    assert SECRET not in repr(endpoint)
    assert endpoint.display_url == "http://127.0.0.1:8000/v1"
    assert endpoint.api_key() == SECRET


@pytest.mark.parametrize("field, value", [("timeout", 0), ("max_retries", -1), ("max_concurrency", 0), ("model", "")])
def test_endpoint_rejects_bad_settings(field, value):
    options = {"base_url": None, "model": "m", field: value}
    with pytest.raises(InputError, match=field):
        LLMEndpoint(**options)


def test_unknown_purpose_is_rejected(client):
    with pytest.raises(ValueError, match="unknown purpose 'chat'"):
        client.complete(MESSAGES, purpose="chat")


# -- normal calls, cache and ledger ---------------------------------------------------------------
def test_completion_carries_reply_usage_and_price(client, fake_llm):
    completion = client.complete(MESSAGES, purpose="code", seed=0)
    assert "def label(x):" in completion.text
    assert completion.prompt_tokens == len(MESSAGES[0]["content"]) // 4
    assert completion.completion_tokens == len(completion.text) // 4
    expected = (completion.prompt_tokens * 0.0005 + completion.completion_tokens * 0.0015) / 1000
    assert completion.dollars == pytest.approx(expected)
    assert not completion.cached and completion.usage_reported and completion.attempts == 1
    body = fake_llm.requests[0]["body"]
    assert body["model"] == "gpt-3.5-turbo" and body["temperature"] == 0.7 and body["max_tokens"] == 1000
    assert body["seed"] == 0
    (entry,) = client.ledger.entries()
    assert entry["purpose"] == "code" and entry["cached"] is False
    assert entry["price_prompt_per_1k"] == 0.0005 and entry["price_completion_per_1k"] == 0.0015
    assert entry["dollars"] == pytest.approx(expected)
    assert entry["price_table_date"] == "2024-07-18"


def test_a_cache_hit_makes_no_request_and_costs_nothing(client, fake_llm, tmp_path):
    first = client.complete(MESSAGES, purpose="code")
    second = client.complete(MESSAGES, purpose="code")
    assert fake_llm.request_count == 1
    assert second.cached and second.dollars == 0.0 and second.text == first.text
    assert (second.prompt_tokens, second.completion_tokens) == (first.prompt_tokens, first.completion_tokens)
    summary = client.ledger.summary()
    assert (summary["calls"], summary["api_calls"], summary["cached_calls"]) == (2, 1, 1)
    assert summary["dollars"] == pytest.approx(first.dollars)
    assert len(cache_files(tmp_path)) == 1


def test_refresh_bypasses_the_cache_and_overwrites_it(client, fake_llm, tmp_path):
    client.complete(MESSAGES, purpose="code")
    fake_llm.enqueue(Reply("a fresh reply"))
    refreshed = client.complete(MESSAGES, purpose="code", refresh=True)
    assert fake_llm.request_count == 2 and not refreshed.cached
    assert client.complete(MESSAGES, purpose="code").text == "a fresh reply"
    assert fake_llm.request_count == 2 and len(cache_files(tmp_path)) == 1


def test_each_sample_index_seed_model_and_temperature_is_its_own_request(client, fake_llm, tmp_path):
    for n_sample in range(3):
        client.complete(MESSAGES, purpose="code", n_sample=n_sample)
    client.complete(MESSAGES, purpose="code", seed=7)
    client.complete(MESSAGES, purpose="code", temperature=1.0)
    client.complete(MESSAGES, purpose="code", model="gpt-4")
    assert fake_llm.request_count == 6 and len(cache_files(tmp_path)) == 6
    for n_sample in range(3):
        assert client.complete(MESSAGES, purpose="code", n_sample=n_sample).cached
    assert fake_llm.request_count == 6


def test_is_cached(client):
    request = ChatRequest(MESSAGES, "code")
    assert not client.is_cached(request)
    client.complete_many([request])
    assert client.is_cached(request)
    assert not client.is_cached(ChatRequest(MESSAGES, "code", refresh=True))


def test_missing_usage_counts_zero_tokens_and_is_flagged(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, model="local-nousage")
    completion = client.complete(MESSAGES, purpose="code")
    assert (completion.prompt_tokens, completion.completion_tokens, completion.usage_reported) == (0, 0, False)
    (entry,) = client.ledger.entries()
    assert entry["usage_reported"] is False and entry["price_known"] is False
    assert client.ledger.summary()["usage_missing"] == 1


def test_unknown_model_is_priced_at_zero_with_one_warning(fake_llm, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, model="qwen2.5-coder-7b")
    with caplog.at_level(logging.WARNING, logger="alchemist_core.llm.pricing"):
        for n_sample in range(2):
            assert client.complete(MESSAGES, purpose="code", n_sample=n_sample).dollars == 0.0
    warnings = [r for r in caplog.records if "not in the price table" in r.getMessage()]
    assert len(warnings) == 1 and "qwen2.5-coder-7b" in warnings[0].getMessage()


def test_a_reply_is_returned_even_when_the_cache_cannot_keep_it(fake_llm, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    (tmp_path / "not-a-folder").write_text("")
    endpoint = LLMEndpoint(base_url=fake_llm.url, model="gpt-4", api_key_env="ALCHEMIST_TEST_KEY", timeout=1.0)
    client = LLMClient(endpoint, cache=ResponseCache(Storage(str(tmp_path / "not-a-folder"))))
    with caplog.at_level(logging.WARNING):
        assert "def label" in client.complete(MESSAGES, purpose="code").text
    assert "could not cache an LLM reply" in caplog.text


# -- retries -----------------------------------------------------------------------------------------
def test_429_honours_retry_after_then_succeeds(client, fake_llm):
    fake_llm.enqueue(Fail(429, retry_after="1"))
    started = time.monotonic()
    completion = client.complete(MESSAGES, purpose="code")
    elapsed = time.monotonic() - started
    assert fake_llm.request_count == 2 and completion.attempts == 2
    assert 0.9 <= elapsed < 3  # the backoff alone would be ~0.01 s


def test_retry_after_is_capped(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, retry_after_max=0.1)
    fake_llm.enqueue(Fail(503, retry_after="3600"))
    started = time.monotonic()
    client.complete(MESSAGES, purpose="code")
    assert time.monotonic() - started < 2 and fake_llm.request_count == 2


@pytest.mark.parametrize(
    "failure",
    [Fail(500), Fail(502), Fail(408), Fail(409), Malformed(), Malformed(b'{"object": "chat.completion", "choices": []}')],
)
def test_transient_failures_are_retried(client, fake_llm, failure):
    fake_llm.enqueue(failure)
    completion = client.complete(MESSAGES, purpose="code")
    assert "def label" in completion.text and fake_llm.request_count == 2


def test_500_forever_raises_after_max_retries(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, model="fail500", max_retries=3)
    with pytest.raises(LLMError) as raised:
        client.complete(MESSAGES, purpose="supplement")
    error = raised.value
    assert fake_llm.request_count == 4
    assert (error.status, error.attempts, error.retryable) == (500, 4, True)
    message = str(error)
    assert "failed after 4 attempt(s)" in message and "HTTP 500: the server is on fire" in message
    assert fake_llm.url in message and "purpose supplement" in message
    assert client.ledger.entries() == [] and cache_files(tmp_path) == []
    copy = pickle.loads(pickle.dumps(error))  # Prefect and Dask move exceptions between processes
    assert (str(copy), copy.status, copy.attempts, copy.endpoint) == (message, 500, 4, error.endpoint)


def test_malformed_forever_raises(client, fake_llm):
    fake_llm.enqueue(Malformed(), Malformed(), Malformed())
    with pytest.raises(LLMError, match="malformed response body"):
        client.complete(MESSAGES, purpose="code")
    assert fake_llm.request_count == 3


def test_a_hanging_server_times_out(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, model="hang", max_retries=1)
    started = time.monotonic()
    with pytest.raises(LLMError, match="timed out after 1 s") as raised:
        client.complete(MESSAGES, purpose="code")
    assert raised.value.status is None and raised.value.attempts == 2
    assert fake_llm.request_count == 2 and time.monotonic() - started < 4


def test_a_hang_then_success_recovers(client, fake_llm):
    fake_llm.enqueue(Hang(3))
    assert client.complete(MESSAGES, purpose="code").attempts == 2


def test_nothing_listening_is_a_connection_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client("http://127.0.0.1:9/v1", tmp_path, max_retries=1)
    with pytest.raises(LLMError, match="connection error"):
        client.complete(MESSAGES, purpose="code")


@pytest.mark.parametrize(
    "status, hint", [(400, ""), (401, "check the API key in $ALCHEMIST_TEST_KEY"), (404, "check the model name")]
)
def test_client_errors_are_not_retried(client, fake_llm, status, hint):
    fake_llm.enqueue(Fail(status, message="bad request"))
    with pytest.raises(LLMError, match=f"failed with HTTP {status}: bad request \\(not retried\\)") as raised:
        client.complete(MESSAGES, purpose="code")
    assert fake_llm.request_count == 1
    assert raised.value.status == status and not raised.value.retryable
    assert hint in str(raised.value)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"Retry-After": "3600"}, 60.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_seconds(headers, cap=60) == expected


def test_retry_after_http_date():
    now = datetime(2024, 7, 18, 12, 0, 0, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"Retry-After": header}, cap=60, now=now) == 30.0
    assert retry_after_seconds({"Retry-After": header}, cap=10, now=now) == 10.0


# -- many requests -------------------------------------------------------------------------------
def test_complete_many_keeps_order_and_bounds_concurrency(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, model="slow-model", max_concurrency=3)
    requests = [ChatRequest(MESSAGES, "code", seed=i) for i in range(9)]
    completions = client.complete_many(requests)
    assert [c.request_key for c in completions] == [client._key(r) for r in requests]
    expected = [fake_llm.default_reply({"messages": MESSAGES, "seed": i}) for i in range(9)]
    assert [c.text for c in completions] == expected
    assert 2 <= fake_llm.max_in_flight <= 3


def test_complete_many_finishes_every_request_before_raising(client, fake_llm):
    requests = [ChatRequest(MESSAGES, "code", n_sample=i) for i in range(3)]
    requests[1] = ChatRequest(MESSAGES, "code", model="fail500", n_sample=1)
    results = client.try_complete_many(requests)
    assert isinstance(results[1], LLMError) and not isinstance(results[0], LLMError)
    with pytest.raises(LLMError, match="HTTP 500"):
        client.complete_many(requests)
    assert client.is_cached(requests[0]) and client.is_cached(requests[2])


# -- the key stays secret ---------------------------------------------------------------------------
def test_the_api_key_never_leaks(fake_llm, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", SECRET)
    client = make_client(fake_llm.url, tmp_path, max_retries=1)
    messages = []
    with caplog.at_level(logging.DEBUG):
        client.complete(MESSAGES, purpose="code")
        client.complete(MESSAGES, purpose="code")
        fake_llm.enqueue(Fail(500, message=f"upstream rejected key {SECRET}"), Fail(500, message=f"key {SECRET}"))
        with pytest.raises(LLMError) as retried:
            client.complete(MESSAGES, purpose="code", n_sample=1)
        messages.append(str(retried.value))
        with pytest.raises(LLMError) as unauthorized:
            client.complete(MESSAGES, purpose="code", model="auth401")
        messages.append(str(unauthorized.value))
    # the key was really sent, and the server really echoed it
    assert fake_llm.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert "Incorrect API key provided: Bearer ***" in messages[1] and "HTTP 401" in messages[1]
    for message in messages:
        assert SECRET not in message and "TESTKEY" not in message
    assert unauthorized.value.__cause__ is None and unauthorized.value.__suppress_context__
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.jsonl" for p in files) and cache_files(tmp_path)
    for path in files:
        assert SECRET not in path.read_text(encoding="utf-8"), path
