"""Prefect hooks that turn each finished task run into one stage line (see :mod:`alchemist_core.progress`).

Every task takes :data:`STAGE_HOOKS`; ``tests/tasks/test_task_boundaries.py`` checks it.
"""

from __future__ import annotations

from typing import Any

from alchemist_core.progress import describe, stage_failed, stage_finished


def _seconds(task_run: Any) -> float:
    total = getattr(task_run, "total_run_time", None)
    seconds = total.total_seconds() if total is not None else 0.0
    if not seconds and task_run.start_time and task_run.end_time:
        seconds = (task_run.end_time - task_run.start_time).total_seconds()
    return float(seconds)


def on_stage_completion(task: Any, task_run: Any, state: Any) -> None:
    """One ``alchemist.progress`` record: the stage, its seconds or "cached", what it produced."""
    try:
        detail = describe(state.result(raise_on_failure=False))
    except Exception:  # noqa: BLE001 - a progress line must never fail a stage
        detail = ""
    stage_finished(task.name, seconds=_seconds(task_run), cached=state.name == "Cached", detail=detail)


def on_stage_failure(task: Any, task_run: Any, state: Any) -> None:
    # The error itself is printed once, by the command line, and is in the log with its traceback.
    stage_failed(task.name, seconds=_seconds(task_run), error="failed")


STAGE_HOOKS: dict[str, Any] = {"on_completion": [on_stage_completion], "on_failure": [on_stage_failure]}
"""The hooks every task is declared with: ``@task(**STAGE_HOOKS, name=...)``."""
