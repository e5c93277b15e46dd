"""LLM access: an OpenAI-compatible client with a response cache, a cost ledger and prices.

Examples
--------
>>> from alchemist_core.llm import LLMEndpoint
>>> LLMEndpoint(base_url="http://127.0.0.1:8000/v1", model="qwen").display_url
'http://127.0.0.1:8000/v1'
"""

from alchemist_core.llm.cache import ResponseCache, request_key
from alchemist_core.llm.client import (
    ChatRequest,
    Completion,
    LLMClient,
    LLMEndpoint,
    LLMError,
)
from alchemist_core.llm.ledger import PURPOSES, Ledger
from alchemist_core.llm.pricing import (
    CostEstimate,
    ModelPrice,
    PriceTable,
    estimate_annotation_cost,
    load_price_table,
)

__all__ = [
    "PURPOSES",
    "ChatRequest",
    "Completion",
    "CostEstimate",
    "LLMClient",
    "LLMEndpoint",
    "LLMError",
    "Ledger",
    "ModelPrice",
    "PriceTable",
    "ResponseCache",
    "estimate_annotation_cost",
    "load_price_table",
    "request_key",
]
