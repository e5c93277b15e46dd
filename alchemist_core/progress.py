"""Stage progress: one record per finished stage, for the command line to show instead of a log wall.

Records go to the ``alchemist.progress`` logger with the stage's name, seconds, whether it
came from the cache and a short description of what it produced (``describe``). The command
line renders them (``flows/console.py``); elsewhere they are ordinary INFO log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

PROGRESS_LOGGER = "alchemist.progress"
logger = logging.getLogger(PROGRESS_LOGGER)


def describe(result: Any) -> str:
    """A few words on what a stage produced: its ``progress_summary()``, or counts of a list of them."""
    if hasattr(result, "progress_summary"):
        return str(result.progress_summary())
    if isinstance(result, Sequence) and not isinstance(result, (str, bytes)):
        flat = [item for part in result for item in (part if isinstance(part, Sequence) and not isinstance(part, str) else [part])]
        rows = [getattr(item, "n_rows", None) for item in flat]
        if flat and all(isinstance(n, int) for n in rows):
            return f"{len(flat):,} shards, {sum(rows):,} rows"  # type: ignore[arg-type]
        if flat and all(hasattr(item, "progress_summary") for item in flat):
            summaries = [item.progress_summary() for item in flat]
            return summaries[0] if len(summaries) == 1 else f"{len(summaries)} sets: " + ", ".join(summaries)
    return ""


def stage_finished(stage: str, *, seconds: float, cached: bool, detail: str = "") -> None:
    """Record that ``stage`` finished (or was answered from the cache)."""
    how = "cached" if cached else f"{seconds:.1f} s"
    logger.info(
        "%s: %s%s", stage, how, f" ({detail})" if detail else "",
        extra={"stage": stage, "seconds": seconds, "cached": cached, "detail": detail, "outcome": "done"},
    )  # fmt: skip


def stage_failed(stage: str, *, seconds: float, error: str) -> None:
    """Record that ``stage`` failed."""
    logger.info(
        "%s: %s after %.1f s", stage, error, seconds,
        extra={"stage": stage, "seconds": seconds, "cached": False, "detail": error, "outcome": "failed"},
    )  # fmt: skip


def expect(stage: str, total: int) -> None:
    """Announce how many runs of ``stage`` (batches) are coming, so each can show ``k/total`` and an estimate."""
    logger.info("%s: %d batches", stage, total, extra={"stage": stage, "total": total, "outcome": "expect"})
