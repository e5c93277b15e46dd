"""Helpers of the flow tests: quick run settings and the task states of a flow run."""

from __future__ import annotations

import shutil
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"
# The faulty programs that cost no time: the looping one waits out its budget on every shard.
QUICK_PROGRAMS = ("account_words", "billing_words", "shipping_words", "technical_words", "zz_raises")
def quick_programs(folder: Path) -> Path:
    """Copy the quick test programs into ``folder`` (a library the test may edit)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in QUICK_PROGRAMS:
        shutil.copy(PROGRAMS / f"{name}.py", folder / f"{name}.py")
    return folder


CACHED_TASKS = {"generate-programs", "apply-programs", "curate-programs", "fit-label-model", "predict-labels", "distill-student"}


def small_settings(storage: str, data: Path, library: Path, **overrides) -> dict:
    """Dotted overrides of a quick labeling run: library programs, TF-IDF + logistic regression, in-process."""
    values = {
        "spec": "demo",
        "data.source": str(data),
        "data.split_field": "split",
        "data.id_field": "id",
        "data.shard_rows": 200,
        "generator.kind": "library",
        "generator.library_path": str(library),
        "sandbox.program_seconds": 2.0,
        "label_model.name": "majority",
        "student.features": "tfidf",
        "student.model": "logreg",
        "dask.address": "synchronous",
        "storage": storage,
    }
    values.update(overrides)
    return values


def task_states(flow_run_id, expect: tuple[str, ...] = ("publish",)) -> dict[str, str]:
    """Task-run name -> state name (``Completed``, ``Cached``, ...) of one flow run.

    The API records task-run states from events, a moment after the flow returns: this waits
    until a task named with each prefix in ``expect`` is there and every task has finished.
    """
    import asyncio
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {run.name: run.state.name for run in runs if run.state is not None}

    deadline = time.monotonic() + 60
    while True:
        states = asyncio.run(read())
        finished = all(state in ("Completed", "Cached", "Failed", "Crashed", "Cancelled") for state in states.values())
        present = all(any(name.startswith(prefix) for name in states) for prefix in expect)
        if (finished and present) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def states_by_task(states: dict[str, str]) -> dict[str, set[str]]:
    """Task name (the run name without its suffix) -> the states its runs ended in."""
    grouped: dict[str, set[str]] = {}
    for name, state in states.items():
        grouped.setdefault(name.rsplit("-", 1)[0], set()).add(state)
    return grouped
