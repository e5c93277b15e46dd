"""The README's server path end to end: `prefect server start`, a process pool, `prefect deploy --all`,
a run triggered as the UI's Run button does, a worker that picks it up, artifacts read back from the API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.flows.helpers import quick_programs

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def prefect_server(tmp_path):
    """A `prefect server start` of its own (own PREFECT_HOME, no telemetry); yields the environment to reach it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = open(tmp_path / "server.log", "wb")
    # As the README starts it: the port in the environment, so the UI talks to the same port.
    server = subprocess.Popen(
        [*PREFECT, "server", "start"],
        env={**env, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as reply:
                    if reply.read().strip() == b"true":
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=5) as reply:
            assert json.loads(reply.read())["api_url"] == f"http://127.0.0.1:{port}/api"  # the UI reaches this server
        yield {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    finally:
        _stop(server)
        log.close()


def _prefect(env, *args, timeout=180):
    result = subprocess.run([*PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _api(env):
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(api=env["PREFECT_API_URL"])


@pytest.mark.slow
def test_deploy_trigger_from_the_api_and_run_on_a_worker(prefect_server, small_demo_csv, tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    env = prefect_server
    library = quick_programs(tmp_path / "library")
    storage = tmp_path / "storage"
    deploy_env = {
        **env, "ALCHEMIST_PROJECT_DIR": str(REPO), "ALCHEMIST_STORAGE": str(storage),
        "ALCHEMIST_SOURCE_RUN": str(storage / "runs" / "nightly-source"), "ALCHEMIST_RELABEL_DATA": str(small_demo_csv),
    }  # fmt: skip
    _prefect(env, "work-pool", "create", "alchemist-pool", "--type", "process")
    # In the README's order: without a source run the nightly relabel is refused, the rest deployed.
    no_source = {k: v for k, v in deploy_env.items() if k not in ("ALCHEMIST_SOURCE_RUN", "ALCHEMIST_RELABEL_DATA")}
    refused = subprocess.run([*PREFECT, "--no-prompt", "deploy", "--all"], cwd=REPO, env=no_source, capture_output=True,
                             text=True, timeout=180)  # fmt: skip
    assert refused.returncode != 0 and "config.source_run" in refused.stdout + refused.stderr
    _prefect(deploy_env, "--no-prompt", "deploy", "--name", "relabel-nightly")

    parameters = {
        "config": {
            "spec": "demo",
            "data": {"source": str(small_demo_csv), "split_field": "split", "id_field": "id", "shard_rows": 200},
            "generator": {"kind": "library", "library_path": str(library)},
            "label_model": {"name": "majority"},
            "student": {"model": "logreg", "features": "tfidf"},
            "dask": {"n_workers": 1},
            "storage": str(storage),
            "run_id": "from-the-ui",
        }
    }

    async def trigger():
        async with _api(env) as client:
            deployment = await client.read_deployment_by_name("label-dataset/label-dataset")
            flow_run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            return deployment, flow_run.id

    deployment, flow_run_id = asyncio.run(trigger())
    # The UI's form: the RunConfig model with its nested sections.
    schema = deployment.parameter_openapi_schema
    assert schema["properties"]["config"]["$ref"] == "#/definitions/RunConfig"
    assert {"RunConfig", "DataConfig", "GeneratorConfig", "StudentConfig", "DaskConfig"} <= set(schema["definitions"])
    assert "shard_rows" in schema["definitions"]["DataConfig"]["properties"]

    worker = subprocess.Popen(
        [*PREFECT, "worker", "start", "--pool", "alchemist-pool", "--run-once"], cwd=tmp_path, env=env,
        stdout=open(tmp_path / "worker.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        worker.wait(timeout=400)
    finally:
        _stop(worker)
    log = (tmp_path / "worker.log").read_text()

    async def inspect():
        async with _api(env) as client:
            flow_run = await client.read_flow_run(flow_run_id)
            artifacts = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            relabel = await client.read_deployment_by_name("relabel/relabel-nightly")
            prune = await client.read_deployment_by_name("prune-cache/prune-cache-weekly")
            return flow_run, artifacts, relabel, prune

    flow_run, artifacts, relabel, prune = asyncio.run(inspect())
    assert flow_run.state.is_completed(), log[-5000:]
    run = storage / "runs" / "from-the-ui"
    assert (run / "report.md").exists() and (run / "labels" / "train").is_dir()
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert {"demo-programs", "demo-label-model", "demo-metrics", "demo-cost", "demo-report"} <= set(by_key), sorted(by_key)
    report = by_key["demo-report"]
    assert report.type == "markdown" and "## Programs" in report.data  # the report itself, readable in the UI
    assert (run / "report.md").as_uri() in report.data and (run / "report.html").as_uri() in report.data
    assert by_key["demo-programs"].type == "table" and "billing_words" in str(by_key["demo-programs"].data)
    assert (storage / "prefect-results").is_dir()

    # The nightly relabel is registered with its cron schedule and the deploy-time parameters.
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in relabel.schedules] == [("0 3 * * *", "UTC", True)]
    assert relabel.parameters["config"]["source_run"] == str(storage / "runs" / "nightly-source")
    assert relabel.work_pool_name == "alchemist-pool"
    # The weekly cache prune: its schedule, and the storage filled in at deploy time.
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in prune.schedules] == [("0 4 * * 0", "UTC", True)]
    assert prune.parameters == {"config": {"storage": str(storage), "older_than": "30d"}}
    assert prune.parameter_openapi_schema["properties"]["config"]["$ref"] == "#/definitions/PruneConfig"
    assert set(prune.parameter_openapi_schema["definitions"]["PruneConfig"]["properties"]) == {
        "storage", "older_than", "areas", "dry_run"
    }


def test_deployment_definitions_match_the_flows():
    """Fast: every deployment's entrypoint loads and its parameters validate against the flow's model."""
    import importlib
    import re

    import yaml

    from alchemist_core.cache_admin import PruneConfig
    from alchemist_core.config import RunConfig
    from alchemist_core.relabel import RelabelConfig

    text = re.sub(r"\{\{ \$(\w+) \}\}", lambda m: f"/placeholder/{m.group(1).lower()}", (REPO / "prefect.yaml").read_text())
    definitions = yaml.safe_load(text)
    models = {"label-dataset": RunConfig, "generate-programs": RunConfig, "relabel": RelabelConfig, "prune-cache": PruneConfig}
    seen = set()
    for deployment in definitions["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
        models[flow.name].model_validate(deployment["parameters"]["config"])
        assert deployment["work_pool"]["name"] == "alchemist-pool" and deployment["enforce_parameter_schema"]
        seen.add(flow.name)
    assert seen == set(models)
    RunConfig.model_validate(yaml.safe_load((REPO / "deployments" / "local.yaml").read_text()))
    RelabelConfig.model_validate(yaml.safe_load((REPO / "deployments" / "relabel.yaml").read_text()))
