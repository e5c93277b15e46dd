"""LLM replies cached by request digest, so a rerun costs nothing.

The key covers everything that shapes a reply: the endpoint, the model, the messages, the
sampling settings, the seed and the sample index. Asking for N samples of one prompt is N
requests with N sample indices, hence N entries. The API key is never part of an entry.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

from alchemist_core.data.storage import Storage
from alchemist_core.digest import digest_json
from alchemist_core.errors import StorageError

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


def request_key(
    *,
    base_url: str,
    model: str,
    messages: Sequence[Mapping[str, str]],
    temperature: float,
    max_tokens: int,
    seed: int | None,
    n_sample: int,
) -> str:
    """The cache key (sha256 hex) of one chat request."""
    return digest_json(
        {
            "format": CACHE_FORMAT,
            "base_url": base_url,
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": float(temperature),
            "max_tokens": int(max_tokens),
            "seed": seed,
            "sample": int(n_sample),
        }
    )


class ResponseCache:
    """Replies stored as JSON under ``storage`` (for example ``<root>/cache/llm``).

    Parameters
    ----------
    storage : Storage
        Where entries live, one file per key: ``<key[:2]>/<key>.json``. Writes are atomic.
    """

    def __init__(self, storage: Storage):
        self.storage = storage

    @staticmethod
    def _parts(key: str) -> tuple[str, str]:
        return key[:2], f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry for ``key``, or ``None`` (a missing or unreadable entry is a miss)."""
        parts = self._parts(key)
        try:
            if not self.storage.exists(*parts):
                return None
            entry = self.storage.read_json(*parts)
        except (StorageError, ValueError) as error:
            logger.warning("ignoring unreadable LLM cache entry %s: %s", self.storage.uri(*parts), error)
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            logger.warning("ignoring malformed LLM cache entry %s", self.storage.uri(*parts))
            return None
        return entry

    def put(
        self,
        key: str,
        *,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
        usage_reported: bool,
        latency_s: float,
        request: Mapping[str, Any],
    ) -> str:
        """Store a reply and its usage under ``key``; returns the entry's URI.

        ``request`` describes the request (model, messages, sampling settings): it must not
        hold the API key.
        """
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "text": text,
            "usage": {
                "prompt_tokens": int(prompt_tokens),
                "completion_tokens": int(completion_tokens),
                "reported": bool(usage_reported),
            },
            "latency_s": round(float(latency_s), 4),
            "request": dict(request),
        }
        return self.storage.write_json(entry, *self._parts(key))

    def contains(self, key: str) -> bool:
        return self.get(key) is not None
