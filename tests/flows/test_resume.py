"""A run killed after its apply stage resumes from the finished stages and ends with the same pseudolabels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from alchemist_core.config import load_config
from tests.flows.helpers import small_settings, states_by_task, task_states

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _nested(dotted: dict) -> dict:
    nested: dict = {}
    for key, value in dotted.items():
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def _cli_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    # The CLI reports to the test's Prefect API, so its task runs can be read back.
    return {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url), "PYTHONPATH": str(REPO)}


def _latest_flow_run_since(started: datetime):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime
    from prefect.client.schemas.sorting import FlowRunSort

    async def read():
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started)),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            return runs[0].id

    return asyncio.run(read())


def test_killed_run_resumes_from_finished_stages(prefect_harness, small_demo_csv, quick_library, tmp_path):
    from flows.label_dataset import label_dataset

    settings = small_settings("unused", small_demo_csv, quick_library, **{"label_model.name": "snorkel"})
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(_nested(settings)))
    storage = tmp_path / "killed"
    command = [sys.executable, "-m", "flows.cli", "run", "--config", str(config_file), "--storage", str(storage)]

    process = subprocess.Popen(command, cwd=tmp_path, env=_cli_env(), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        faults = []
        while not faults and time.monotonic() < deadline and process.poll() is None:
            faults = list(storage.glob("runs/*/votes/faults.json"))  # written once every shard is labeled
            time.sleep(0.05)
        assert faults, "the run never finished its apply stage"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    run = faults[0].parents[1]
    assert not (run / "report.md").exists(), "the run finished before it could be killed"

    resumed_at = datetime.now(timezone.utc)
    finished = subprocess.run(command, cwd=tmp_path, env=_cli_env(), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    states = states_by_task(task_states(_latest_flow_run_since(resumed_at)))
    assert states["generate-programs"] == {"Cached"} and states["apply-programs"] == {"Cached"}, states
    assert (run / "report.md").exists()

    # An uninterrupted run of the same config elsewhere gives byte-identical pseudolabels.
    reference = Path(label_dataset(load_config(overrides={**settings, "storage": str(tmp_path / "whole")}))["run_root"])
    resumed_labels = sorted(p.relative_to(run) for p in (run / "labels").rglob("*.parquet"))
    assert resumed_labels == sorted(p.relative_to(reference) for p in (reference / "labels").rglob("*.parquet"))
    assert len(resumed_labels) == 5
    for relative in resumed_labels:
        assert (run / relative).read_bytes() == (reference / relative).read_bytes(), relative
