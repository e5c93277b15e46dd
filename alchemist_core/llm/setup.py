"""An LLM client from the run's settings, and the checks that settings pass before a run starts.

``settings`` is an :class:`alchemist_core.config.LLMConfig` (or ``OpenAIConfig``) as a dict,
the form the flows hand to the core.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.llm.cache import ResponseCache
from alchemist_core.llm.client import LLMClient, LLMEndpoint, SpendingCap
from alchemist_core.llm.ledger import Ledger
from alchemist_core.llm.pricing import PriceTable, configured_price_table

GENERATION_PURPOSES = frozenset({"supplement", "code", "repair", "concepts"})
"""Ledger purposes of the calls that write programs and concepts (every purpose but ``annotate``)."""


def endpoint_for(settings: Mapping[str, Any]) -> LLMEndpoint:
    """The endpoint the settings describe (validated, the key not read)."""
    return LLMEndpoint(
        base_url=settings["base_url"],
        model=settings["model"],
        api_key_env=settings["api_key_env"],
        timeout=settings["timeout"],
        max_retries=settings["max_retries"],
        max_concurrency=settings["max_concurrency"],
        temperature=settings["temperature"],
        max_tokens=settings["max_tokens"],
    )


def prices_for(settings: Mapping[str, Any]) -> PriceTable:
    """The price table of the settings: the shipped one, the user's ``price_table`` over it, and the
    model's own ``input_price_per_1m`` / ``output_price_per_1m`` when given."""
    return configured_price_table(
        settings.get("price_table"),
        model=settings["model"],
        input_per_1m=settings.get("input_price_per_1m"),
        output_per_1m=settings.get("output_price_per_1m"),
    )


def spent_on(ledger: Ledger, purposes: frozenset[str] | set[str]) -> float:
    """Dollars the ledger's calls with these purposes cost (cache hits cost nothing)."""
    return float(sum(float(e.get("dollars") or 0.0) for e in ledger.entries() if e.get("purpose") in purposes and not e.get("cached")))


def build_llm_client(
    settings: Mapping[str, Any], *, cache: Storage, ledger_storage: Storage, capped: bool = False
) -> LLMClient:
    """A client for the settings: replies cached under ``cache/llm``, calls in the ledger of ``ledger_storage``.

    With ``capped`` and a ``budget_usd`` in the settings, the client refuses any call that could
    take the run's spending on programs and concepts (its ledger's, earlier commands included)
    past the cap.
    """
    ledger = Ledger(ledger_storage)
    budget = None
    if capped and settings.get("budget_usd") is not None:
        budget = SpendingCap(float(settings["budget_usd"]), spent_before=spent_on(ledger, GENERATION_PURPOSES))
    return LLMClient(
        endpoint_for(settings), cache=ResponseCache(cache.child("llm")), ledger=ledger, prices=prices_for(settings), budget=budget
    )


def check_llm_settings(settings: Mapping[str, Any], *, flag_prefix: str = "--llm", models: Sequence[str] = ()) -> None:
    """Fail now, with what to change, when the settings cannot make a single call.

    Checks the endpoint values, that a key or a base URL is configured, that the price table
    reads, and that a budget can be enforced (the models it caps have a known price). Sends no
    request.

    Raises
    ------
    InputError
    """
    endpoint = endpoint_for(settings)
    key_set = bool(os.environ.get(endpoint.api_key_env, "").strip())
    if not key_set and not (endpoint.base_url or os.environ.get("OPENAI_BASE_URL")):
        raise InputError(
            f"the LLM generator has no endpoint: set the API key in ${endpoint.api_key_env}, or give {flag_prefix}-base-url "
            "(an OpenAI-compatible server such as vLLM, Ollama or llama.cpp); nothing was started"
        )
    prices = prices_for(settings)
    if settings.get("budget_usd") is not None:
        unknown = [m for m in (settings["model"], *models) if m and not prices.price(m).known]
        if unknown:
            raise InputError(
                f"a budget needs the price of every model it caps, and {sorted(set(unknown))} is not in the price table "
                f"{prices.source} (dated {prices.date}): give --price-table FILE, or input_price_per_1m and "
                "output_price_per_1m in the config"
            )
