"""What generating programs will cost, before any call: the planned calls, tokens and dollars.

``alchemist run --dry-run`` and ``alchemist generate --dry-run`` print it and send nothing.
The first round's calls are known exactly: one stage-one call per supplement kind the spec
does not supply, one code call per program. Whether each is already in the response cache
(a rerun costs $0) is checked with the same request key a real call would use; a two-stage
code prompt whose stage-one reply is cached is built from that reply.

Tokens are estimates (no tokenizer ships): prompts count one token per four characters. The
*expected* figure assumes typical reply lengths (:data:`TYPICAL_REPLY_TOKENS`) and no repairs;
the *at most* figure assumes every reply is ``max_tokens`` long, every candidate needs every
repair turn and every replacement round runs, which is the bound a budget must allow for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from alchemist_core.data.storage import Storage
from alchemist_core.llm.pricing import estimate_message_tokens
from alchemist_core.spec import TaskSpec

TYPICAL_REPLY_TOKENS = {"supplement": 300, "code": 350}
"""Reply lengths the expected cost assumes: a paragraph of supplementary information, a short program."""

REPAIR_NOTE_TOKENS = 120
"""Tokens a repair turn adds besides the rejected reply: the error and the request to fix it."""


@dataclass(frozen=True)
class PlannedCall:
    """One first-round call: its purpose and name, estimated tokens, and whether the cache answers it."""

    purpose: str
    name: str
    model: str
    prompt_tokens: int
    expected_completion_tokens: int
    cached: bool


@dataclass(frozen=True)
class GenerationPlan:
    """The calls a generation will make and what they will cost; see the module docstring."""

    generator: str
    n_programs: int
    calls: tuple[PlannedCall, ...] = ()
    expected_dollars: float = 0.0
    max_calls: int = 0
    max_dollars: float = 0.0
    max_tokens: int = 0
    price_known: bool = True
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    price_table: str = ""
    budget_usd: float | None = None

    @property
    def n_cached(self) -> int:
        return sum(c.cached for c in self.calls)

    def lines(self) -> list[str]:
        """The plan as lines for a terminal."""
        if not self.calls:
            return [f"the {self.generator} generator makes no LLM call: generation costs $0"]
        sent = [c for c in self.calls if not c.cached]
        prompt = sum(c.prompt_tokens for c in sent)
        completion = sum(c.expected_completion_tokens for c in sent)
        by_purpose: dict[str, int] = {}
        for call in self.calls:
            by_purpose[call.purpose] = by_purpose.get(call.purpose, 0) + 1
        listed = ", ".join(f"{n} {purpose}" for purpose, n in by_purpose.items())
        lines = [
            f"planned LLM calls for {self.n_programs} programs: {len(self.calls)} ({listed}); "
            f"{self.n_cached} answered from the cache at $0, {len(sent)} to send",
            f"estimated tokens to send: ~{prompt:,} prompt + ~{completion:,} completion "
            "(prompts: characters / 4; replies: typical lengths, no repairs)",
        ]
        price_text = "; ".join(f"{model}: ${p:g} / ${c:g} per 1K prompt / completion tokens" for model, (p, c) in self.prices.items())
        if self.price_known:
            lines.append(f"estimated cost: ${self.expected_dollars:,.4f}; at most ${self.max_dollars:,.4f} "
                         f"(up to {self.max_calls} calls: every reply {self.max_tokens:,} tokens, every repair, every replacement round)")
            lines.append(f"prices from {self.price_table}: {price_text}")
        else:
            lines.append(
                f"estimated cost: unknown, a model's price is not in {self.price_table} ({price_text}); "
                "give --price-table FILE, or input_price_per_1m and output_price_per_1m in the config"
            )
        if self.budget_usd is not None:
            within = self.max_dollars <= self.budget_usd
            lines.append(
                f"budget: ${self.budget_usd:,.4f}, a hard cap: "
                + ("even the most this can cost fits in it" if within and self.price_known
                   else "calls that could pass it are not sent, and the programs written by then are kept")
            )
        lines.append("nothing was sent (dry run)")
        return lines


def plan_generation(spec: TaskSpec, generator: Mapping[str, Any], *, cache: Storage, seed: int) -> GenerationPlan:
    """The plan of a generation with these settings (``GeneratorConfig`` as a dict); sends nothing.

    ``cache`` is the storage root's cache folder (the response cache is ``cache/llm``).
    """
    kind = generator["kind"]
    n_programs = int(generator["n_programs"])
    if kind != "openai":
        return GenerationPlan(generator=kind, n_programs=n_programs)
    from alchemist_core.generators.openai import ONE_STAGE, OpenAIGenerator
    from alchemist_core.generators.retrieval import load_documents
    from alchemist_core.llm.cache import ResponseCache
    from alchemist_core.llm.client import LLMClient
    from alchemist_core.llm.setup import endpoint_for, prices_for

    llm = generator["openai"]
    client = LLMClient(endpoint_for(llm), cache=ResponseCache(cache.child("llm")), prices=prices_for(llm))
    writer = OpenAIGenerator(
        client,
        code_model=llm["model"],
        supplement_model=llm["supplement_model"] or llm["model"],
        supplement_kinds=llm["supplement_kinds"],
        documents=load_documents(llm["documents"]) if llm["documents"] else (),
        max_repairs=llm["max_repairs"],
        refresh=llm["refresh"],
        temperatures=llm["temperatures"],
        resample_rounds=llm["resample_rounds"],
    )
    max_tokens = client.endpoint.max_tokens
    candidates = writer.plan(n_programs, seed)
    calls: list[PlannedCall] = []
    supplements: dict[str, tuple[str, bool]] = {}  # kind -> (text, exact)
    for kind in sorted({c.kind for c in candidates if c.kind != ONE_STAGE}):
        stage_one = writer.stage_one(spec, kind, seed)
        if isinstance(stage_one, str):
            supplements[kind] = (stage_one, True)
            continue
        text = client.cached_text(stage_one)
        cached = text is not None
        supplements[kind] = (text, True) if text else ("x" * 4 * TYPICAL_REPLY_TOKENS["supplement"], False)
        calls.append(_call(client, stage_one, f"stage one: {kind}", cached, TYPICAL_REPLY_TOKENS["supplement"]))
    longest_supplement = "x" * 4 * max_tokens  # a stage-one reply of max_tokens tokens
    worst: list[tuple[str, int]] = []  # (model, prompt tokens) of every call a candidate could make
    for candidate in candidates:
        text, exact = supplements.get(candidate.kind, (None, True))
        request = writer.code_request(spec, candidate, text)
        cached = exact and client.is_cached(request)
        calls.append(_call(client, request, candidate.name, cached, TYPICAL_REPLY_TOKENS["code"]))
        if not cached:  # a cached conversation replays from the cache, repairs included
            longest = request if exact else writer.code_request(spec, candidate, longest_supplement)
            worst += _worst_conversation(longest, writer, max_tokens)
    # Replacement rounds ask for at most n_programs more candidates, planned the same way.
    for candidate in writer.plan(n_programs, seed, start=n_programs) if writer.resample_rounds else []:
        kind_text, exact = supplements.get(candidate.kind, (None, True))
        kind_text = kind_text if exact else longest_supplement
        if candidate.kind != ONE_STAGE and candidate.kind not in supplements:
            stage_one = writer.stage_one(spec, candidate.kind, seed)
            kind_text = stage_one if isinstance(stage_one, str) else longest_supplement
            if not isinstance(stage_one, str):
                worst.append((writer.supplement_model, estimate_message_tokens(stage_one.messages)))
                supplements[candidate.kind] = (kind_text, False)
        worst += _worst_conversation(writer.code_request(spec, candidate, kind_text), writer, max_tokens)
    prices = client.prices
    expected = sum(prices.price(c.model).cost(c.prompt_tokens, c.expected_completion_tokens) for c in calls if not c.cached)
    stage_one_worst = [(c.model, c.prompt_tokens) for c in calls if c.purpose == "supplement" and not c.cached]
    all_worst = stage_one_worst + worst
    max_dollars = sum(prices.price(model).cost(tokens, max_tokens) for model, tokens in all_worst)
    models = sorted({c.model for c in calls})
    return GenerationPlan(
        generator=kind,
        n_programs=n_programs,
        calls=tuple(calls),
        expected_dollars=expected,
        max_calls=len(all_worst),
        max_dollars=max_dollars,
        max_tokens=max_tokens,
        price_known=all(prices.price(m).known for m in models),
        prices={m: (prices.price(m).prompt_per_1k, prices.price(m).completion_per_1k) for m in models},
        price_table=f"{prices.source} (dated {prices.date})",
        budget_usd=llm.get("budget_usd"),
    )


def _call(client: Any, request: Any, name: str, cached: bool, typical: int) -> PlannedCall:
    model = request.model or client.endpoint.model
    return PlannedCall(request.purpose, name, model, estimate_message_tokens(request.messages), typical, cached)


def _worst_conversation(request: Any, writer: Any, max_tokens: int) -> list[tuple[str, int]]:
    """(model, prompt tokens) of a candidate's first call and of every repair turn it could need."""
    first = estimate_message_tokens(request.messages)
    turns = [(writer.code_model, first)]
    for repair in range(1, writer.max_repairs + 1):
        turns.append((writer.code_model, first + repair * (max_tokens + REPAIR_NOTE_TOKENS)))
    return turns


def prompt_estimate_line(messages: list[dict[str, str]], model: str, prices: Any, max_tokens: int) -> str:
    """One line: the estimated tokens of ``messages`` and what a call with them costs with ``model``."""
    tokens = estimate_message_tokens(messages)
    price = prices.price(model)
    if not price.known:
        return (f"~{tokens:,} prompt tokens (characters / 4); the price of {model} is unknown (not in {prices.source}, "
                f"dated {prices.date}): give --price-table FILE")  # fmt: skip
    low = price.cost(tokens, 0)
    high = price.cost(tokens, max_tokens)
    return (f"~{tokens:,} prompt tokens (characters / 4): ${low:,.5f} with {model} for the prompt, "
            f"at most ${high:,.5f} with a {max_tokens:,}-token reply (prices dated {prices.date})")  # fmt: skip

