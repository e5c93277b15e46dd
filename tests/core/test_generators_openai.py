import numpy as np
import pytest

from alchemist_core.data.storage import Storage
from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError
from alchemist_core.generators.base import GenerationContext, ProgramGenerator
from alchemist_core.generators.openai import OpenAIGenerator
from alchemist_core.generators.prompts import extract_program_source
from alchemist_core.llm import Ledger, LLMClient, LLMEndpoint, LLMError, ResponseCache
from alchemist_core.spec import parse_spec
from tests.fake_llm import BROKEN, HOSTILE, NO_CODE, PROGRAMS, Fail, Reply, fake_llm  # noqa: F401

SPEC = parse_spec(
    {
        "name": "youtube",
        "instruction": "Decide whether a YouTube comment is spam.",
        "classes": [
            {"name": "ham", "description": "a comment about the video or the song"},
            {"name": "spam", "description": "self-promotion, links or requests to subscribe"},
        ],
    }
)

# Chosen so that the fake's programs all vote differently on them.
ROWS = [
    {"text": t}
    for t in [
        "Check out my channel for free music http://spam.example",
        "I love this song, beautiful voice",
        "Subscribe please!!! win a free iPhone",
        "www.example.com best video",
        "This song brings back memories",
        "please visit my channel",
        None,
        "2013 and still listening",
        "WOW Amazing Video Best Ever Thanks",
    ]
]


def make_client(url, root, *, ledger_path="ledger.jsonl", model="gpt-3.5-turbo", **options):
    endpoint = LLMEndpoint(
        base_url=url, model=model, api_key_env="ALCHEMIST_UNSET_KEY", timeout=1.0, max_retries=1,
        backoff_base=0.01, backoff_max=0.05, **options,
    )  # fmt: skip
    storage = Storage(str(root))
    return LLMClient(endpoint, cache=ResponseCache(storage.child("cache", "llm")), ledger=Ledger(storage, ledger_path))


def context(n_programs, seed=0, rows=ROWS, spec=SPEC):
    return GenerationContext(spec=spec, sample_rows=rows, n_programs=n_programs, seed=seed)


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("ALCHEMIST_UNSET_KEY", raising=False)


def test_end_to_end_generates_and_validates_programs(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path)
    generator = OpenAIGenerator(client, supplement_kinds=("none", "keywords"))
    assert isinstance(generator, ProgramGenerator) and generator.name == "openai"
    result = generator.generate(context(4))
    assert result.program_set.names == ["llm_p00_none", "llm_p01_keywords", "llm_p02_none", "llm_p03_keywords"]
    assert result.rejected == () and result.n_duplicates == 0
    # one stage-one call for the one supplement kind, then one code call per program
    assert fake_llm.request_count == 5
    assert len(fake_llm.requests_with("do not write code")) == 1
    for index, program in enumerate(result.program_set):
        assert program.source == extract_program_source(PROGRAMS[index % len(PROGRAMS)])
        origin = program.origin
        assert origin["generator"] == "openai" and origin["model"] == "gpt-3.5-turbo"
        assert origin["repairs"] == 0 and origin["cached"] is False and origin["dollars"] > 0
        assert origin["prompt_tokens"] > 0 and origin["completion_tokens"] > 0
    keywords = result.program_set["llm_p01_keywords"].origin
    assert keywords["supplement_kind"] == "keywords" and keywords["supplement_source"] == "llm"
    # the prompt digest names the exact messages that were sent
    (code_request,) = [r for r in fake_llm.requests if r["body"].get("seed") == 1]
    assert keywords["prompt_digest"] == digest_json(code_request["body"]["messages"])
    assert "useful information (keywords)" in code_request["body"]["messages"][1]["content"]
    details = result.details
    assert (details["n_calls"], details["n_api_calls"], details["n_cached_calls"]) == (5, 5, 0)
    assert details["dollars"] == pytest.approx(client.ledger.summary()["dollars"])


def test_a_second_identical_run_makes_no_request_and_costs_nothing(fake_llm, tmp_path):
    first_client = make_client(fake_llm.url, tmp_path)
    first = OpenAIGenerator(first_client, supplement_kinds=("none", "rules")).generate(context(4))
    requests = fake_llm.request_count
    client = make_client(fake_llm.url, tmp_path, ledger_path="second/ledger.jsonl")
    second = OpenAIGenerator(client, supplement_kinds=("none", "rules")).generate(context(4))
    assert fake_llm.request_count == requests
    assert second.program_set.digest == first.program_set.digest
    summary = client.ledger.summary()
    assert summary["calls"] == requests and summary["cached_calls"] == requests
    assert summary["api_calls"] == 0 and summary["dollars"] == 0.0
    assert all(entry["cached"] is True for entry in client.ledger.entries())
    assert all(p.origin["cached"] and p.origin["dollars"] == 0.0 for p in second.program_set)


def test_refresh_and_a_new_seed_sample_again(fake_llm, tmp_path):
    OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none", "rules")).generate(context(2))
    assert fake_llm.request_count == 3
    refreshed = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none", "rules"), refresh=True)
    assert not any(p.origin["cached"] for p in refreshed.generate(context(2)).program_set)
    assert fake_llm.request_count == 6
    reseeded = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none", "rules"))
    reseeded.generate(context(2, seed=1))
    assert fake_llm.request_count == 9


def test_programs_spread_over_kinds_and_sampling_settings(fake_llm, tmp_path):
    generator = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none", "keywords", "rules"))
    result = generator.generate(context(6))
    assert result.program_set.names == [
        "llm_p00_none", "llm_p01_keywords", "llm_p02_rules", "llm_p03_none", "llm_p04_keywords", "llm_p05_rules",
    ]  # fmt: skip
    stage_one = fake_llm.requests_with("do not write code")
    code_requests = sorted((r["body"] for r in fake_llm.requests if r not in stage_one), key=lambda b: b["seed"])
    assert [b["temperature"] for b in code_requests] == [0.7, 0.7, 0.7, 1.0, 1.0, 1.0]
    assert len({digest_json(b["messages"]) for b in code_requests}) == 6
    assert len(stage_one) == 2


def test_stage_one_and_code_models_are_priced_at_their_own_rates(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path)
    generator = OpenAIGenerator(
        client, code_model="gpt-3.5-turbo", supplement_model="gpt-4", supplement_kinds=("description",)
    )
    result = generator.generate(context(2))
    assert len(result.program_set) == 2
    entries = client.ledger.entries()
    assert sorted((e["purpose"], e["model"]) for e in entries) == [
        ("code", "gpt-3.5-turbo"), ("code", "gpt-3.5-turbo"), ("supplement", "gpt-4"),
    ]  # fmt: skip
    rates = {"gpt-4": (0.03, 0.06), "gpt-3.5-turbo": (0.0005, 0.0015)}
    for e in entries:
        prompt_rate, completion_rate = rates[e["model"]]
        assert (e["price_prompt_per_1k"], e["price_completion_per_1k"]) == (prompt_rate, completion_rate)
        expected = (e["prompt_tokens"] * prompt_rate + e["completion_tokens"] * completion_rate) / 1000
        assert e["dollars"] == pytest.approx(expected)
    by_model = client.ledger.summary()["by_model"]
    assert result.details["supplement_dollars"] == pytest.approx(by_model["gpt-4"]["dollars"])
    assert result.program_set["llm_p00_description"].origin["supplement_model"] == "gpt-4"
    (stage_one,) = fake_llm.requests_with("do not write code")
    assert stage_one["body"]["model"] == "gpt-4"


def test_broken_code_is_repaired_on_the_next_turn(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path)
    fake_llm.enqueue(BROKEN)
    result = OpenAIGenerator(client, supplement_kinds=("none",)).generate(context(1))
    (program,) = result.program_set
    assert program.origin["repairs"] == 1 and fake_llm.request_count == 2
    repair = fake_llm.requests[1]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": BROKEN.text}
    assert "syntax error" in repair[-1]["content"]
    assert [e["purpose"] for e in client.ledger.entries()] == ["code", "repair"]


def test_a_reply_without_code_is_repaired(fake_llm, tmp_path):
    fake_llm.enqueue(NO_CODE)
    result = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none",)).generate(context(1))
    assert len(result.program_set) == 1
    assert "reply has no fenced Python block" in fake_llm.requests[1]["body"]["messages"][-1]["content"]


def test_hostile_code_is_rejected_after_the_repairs_run_out(fake_llm, tmp_path):
    fake_llm.enqueue(HOSTILE, HOSTILE, HOSTILE)
    generator = OpenAIGenerator(
        make_client(fake_llm.url, tmp_path), supplement_kinds=("none",), max_repairs=2, resample_rounds=0
    )
    result = generator.generate(context(1))
    assert len(result.program_set) == 0 and fake_llm.request_count == 3
    (rejected,) = result.rejected
    assert rejected.name == "llm_p00_none" and "import os" in rejected.source
    assert "import of 'os' is not allowed" in rejected.reason and "(after 2 repair(s))" in rejected.reason


def test_no_repairs_rejects_at_once(fake_llm, tmp_path):
    fake_llm.enqueue(BROKEN)
    generator = OpenAIGenerator(
        make_client(fake_llm.url, tmp_path), supplement_kinds=("none",), max_repairs=0, resample_rounds=0
    )
    result = generator.generate(context(1))
    assert fake_llm.request_count == 1 and "syntax error" in result.rejected[0].reason


def test_a_rejected_candidate_is_replaced_by_a_new_one(fake_llm, tmp_path):
    fake_llm.enqueue(BROKEN)
    generator = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none",), max_repairs=0)
    result = generator.generate(context(1))
    assert result.program_set.names == ["llm_p01_none"] and fake_llm.request_count == 2
    assert [r.name for r in result.rejected] == ["llm_p00_none"]
    assert result.details["rounds"] == [
        {"round": 0, "asked": 1, "accepted": 0, "rejected": 1, "duplicates": 0},
        {"round": 1, "asked": 1, "accepted": 1, "rejected": 0, "duplicates": 0},
    ]


def test_duplicates_are_dropped(fake_llm, tmp_path):
    same_votes = PROGRAMS[1].replace('"""Links are spam."""', '"""Web addresses are spam."""')
    fake_llm.enqueue(Reply(PROGRAMS[1]), Reply(PROGRAMS[1]), Reply(same_votes))
    client = make_client(fake_llm.url, tmp_path, max_concurrency=1)
    result = OpenAIGenerator(client, supplement_kinds=("none",), resample_rounds=0).generate(context(4))
    # p01 repeats p00's source, p02 has other source but the same votes; p03 is new
    assert result.program_set.names == ["llm_p00_none", "llm_p03_none"]
    assert result.n_duplicates == 2 and result.rejected == ()
    assert result.details["duplicates"] == [
        {"name": "llm_p01_none", "duplicate_of": "llm_p00_none", "by": "source"},
        {"name": "llm_p02_none", "duplicate_of": "llm_p00_none", "by": "votes"},
    ]


def test_duplicates_are_replaced_until_the_requested_number(fake_llm, tmp_path):
    same_votes = PROGRAMS[1].replace('"""Links are spam."""', '"""Web addresses are spam."""')
    fake_llm.enqueue(Reply(PROGRAMS[1]), Reply(PROGRAMS[1]), Reply(same_votes))
    client = make_client(fake_llm.url, tmp_path, max_concurrency=1)
    result = OpenAIGenerator(client, supplement_kinds=("none",)).generate(context(4))
    # the two duplicates are replaced by two new candidates, p04 and p05
    assert result.program_set.names == ["llm_p00_none", "llm_p03_none", "llm_p04_none", "llm_p05_none"]
    assert fake_llm.request_count == 6 and result.n_duplicates == 2
    assert [r["asked"] for r in result.details["rounds"]] == [4, 2]


def test_replacement_rounds_are_bounded(fake_llm, tmp_path):
    fake_llm.enqueue(*[BROKEN] * 20)
    generator = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("none",), max_repairs=0)
    result = generator.generate(context(2))
    # every candidate fails: 2 asked, then 2 more, then none (at most n_programs extra in all)
    assert len(result.program_set) == 0 and fake_llm.request_count == 4
    assert [r["asked"] for r in result.details["rounds"]] == [2, 2]


def test_supplementary_information_in_the_spec_needs_no_stage_one_call(fake_llm, tmp_path):
    spec = parse_spec({**SPEC.model_dump(), "supplementary": {"keywords": {"spam": ["sub4sub", "giveaway"]}}})
    generator = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("keywords",))
    result = generator.generate(context(2, spec=spec))
    assert fake_llm.request_count == 2 and not fake_llm.requests_with("do not write code")
    assert len(fake_llm.requests_with("spam (1): sub4sub, giveaway")) == 2
    assert result.program_set["llm_p00_keywords"].origin["supplement_source"] == "spec"


def test_documents_are_retrieved_into_the_stage_one_prompt(fake_llm, tmp_path, monkeypatch):
    import alchemist_core.students.features

    vocabulary = ["spam", "channel", "subscribe", "garden", "tomato", "soil"]

    def bag_of_words(texts, **_):
        rows = np.array([[text.lower().count(word) + 1e-3 for word in vocabulary] for text in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    monkeypatch.setattr(alchemist_core.students.features, "encode_texts", bag_of_words)
    gardening = [f"Garden note {i}: tomato soil garden." for i in range(5)]
    documents = ["Spam comments beg you to subscribe to a channel: spam spam.", *gardening]
    generator = OpenAIGenerator(make_client(fake_llm.url, tmp_path), supplement_kinds=("rules",), documents=documents)
    generator.generate(context(1))
    (stage_one,) = fake_llm.requests_with("do not write code")
    prompt = stage_one["body"]["messages"][-1]["content"]
    assert "Excerpts from the user's documents" in prompt and "beg you to subscribe" in prompt


def test_an_endpoint_that_is_down_raises(fake_llm, tmp_path):
    client = make_client(fake_llm.url, tmp_path, model="fail500")
    with pytest.raises(LLMError, match="HTTP 500"):
        OpenAIGenerator(client, supplement_kinds=("none", "rules")).generate(context(2))


def test_one_failed_call_rejects_only_its_program(fake_llm, tmp_path):
    fake_llm.enqueue(Fail(400, message="context length exceeded"))
    client = make_client(fake_llm.url, tmp_path, max_concurrency=1)
    result = OpenAIGenerator(client, supplement_kinds=("none",)).generate(context(2))
    assert result.program_set.names == ["llm_p01_none"]
    assert "LLM call failed" in result.rejected[0].reason and "context length exceeded" in result.rejected[0].reason


@pytest.mark.parametrize("options, message", [
    ({"supplement_kinds": ("none", "facts")}, "supplement_kinds must be a non-empty subset"),
    ({"supplement_kinds": ()}, "supplement_kinds must be a non-empty subset"),
    ({"max_repairs": -1}, "max_repairs must be >= 0"),
])  # fmt: skip
def test_bad_settings_are_input_errors(tmp_path, options, message):
    client = make_client("http://127.0.0.1:9/v1", tmp_path)
    with pytest.raises(InputError, match=message):
        OpenAIGenerator(client, **options)
