"""The cost ledger: one JSON line per LLM call, cached or not.

Each line records when, why (``purpose``), which model, the tokens the API reported, the
price used and its table date, the dollars, the latency and whether the reply came from the
cache (a cache hit costs $0 and says so). Totals count billed tokens, i.e. API calls only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import defaultdict
from typing import Any, Mapping

from alchemist_core.data.storage import Storage

logger = logging.getLogger(__name__)

PURPOSES = ("supplement", "code", "repair", "annotate", "concepts")
"""Why a call was made: stage one, a program, a repair turn, direct labeling, image concepts."""


def _empty_totals() -> dict[str, Any]:
    return {
        "calls": 0,
        "api_calls": 0,
        "cached_calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "dollars": 0.0,
        "usage_missing": 0,
        "price_unknown": 0,
    }


def _add(totals: dict[str, Any], entry: Mapping[str, Any]) -> None:
    totals["calls"] += 1
    if entry.get("cached"):
        totals["cached_calls"] += 1
        return
    totals["api_calls"] += 1
    totals["prompt_tokens"] += int(entry.get("prompt_tokens", 0))
    totals["completion_tokens"] += int(entry.get("completion_tokens", 0))
    totals["dollars"] += float(entry.get("dollars", 0.0))
    totals["usage_missing"] += int(not entry.get("usage_reported", True))
    totals["price_unknown"] += int(not entry.get("price_known", True))


class Ledger:
    """Append-only JSON Lines file of LLM calls at ``storage``/``path``.

    Safe to share between the threads of one process. On a local folder a line is appended
    in place; elsewhere (``s3://``) the file is rewritten atomically with the new line.
    """

    def __init__(self, storage: Storage, path: str = "ledger.jsonl"):
        self.storage = storage
        self.path = path
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        return self.storage.uri(self.path)

    def record(self, entry: Mapping[str, Any]) -> None:
        """Append one entry (a JSON-serialisable mapping) as a line."""
        line = json.dumps(dict(entry), sort_keys=True, default=str)
        with self._lock:
            if self.storage.is_local:
                os.makedirs(os.path.dirname(self.uri), exist_ok=True)
                with open(self.uri, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            else:
                self.storage.append_line(line, self.path)

    def entries(self) -> list[dict[str, Any]]:
        """Every recorded entry, oldest first (an unreadable line is skipped with a warning)."""
        if not self.storage.exists(self.path):
            return []
        entries = []
        for number, line in enumerate(self.storage.read_text(self.path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as error:
                logger.warning("skipping unreadable line %d of %s: %s", number, self.uri, error)
        return entries

    def summary(self) -> dict[str, Any]:
        """Totals over all entries, overall and ``by_model`` and ``by_purpose``.

        Returns
        -------
        dict
            ``calls``, ``api_calls``, ``cached_calls``, ``prompt_tokens``, ``completion_tokens``
            (billed, API calls only), ``dollars``, ``usage_missing`` (API calls whose reply had no
            usage, counted as 0 tokens), ``price_unknown``, ``price_table_dates``, plus the same
            counters per model and per purpose.
        """
        totals = _empty_totals()
        by_model: dict[str, dict[str, Any]] = defaultdict(_empty_totals)
        by_purpose: dict[str, dict[str, Any]] = defaultdict(_empty_totals)
        dates = set()
        for entry in self.entries():
            _add(totals, entry)
            _add(by_model[str(entry.get("model"))], entry)
            _add(by_purpose[str(entry.get("purpose"))], entry)
            if entry.get("price_table_date"):
                dates.add(str(entry["price_table_date"]))
        totals["by_model"] = dict(by_model)
        totals["by_purpose"] = dict(by_purpose)
        totals["price_table_dates"] = sorted(dates)
        return totals
