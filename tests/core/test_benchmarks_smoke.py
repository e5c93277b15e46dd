"""Each performance benchmark runs end to end at a tiny size (``--quick``) and prints its tables.

The numbers of a quick run mean nothing; what is checked is that the script still runs against
the current code, that its baseline and candidate agree where it asserts they must, and that it
prints the tables (with the ratio column) and a JSON file that docs/performance.md is built from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, tmp_path: Path, *extra: str, timeout: float = 540) -> tuple[str, dict]:
    out = tmp_path / f"{script}.json"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)  # the end-to-end script starts its own ephemeral API
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{script}.py"), "--quick", "--json", str(out), "--workdir", str(tmp_path), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout, json.loads(out.read_text())


def _plot(tmp_path: Path, *inputs: str) -> str:
    """Run plot_scaling.py on benchmark JSON; the panels it says it drew (the PNG is checked)."""
    out = tmp_path / "scaling.png"
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "plot_scaling.py"), *inputs, "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    return completed.stdout.strip().split("with panels: ", 1)[1]


def _tables(stdout: str) -> list[list[str]]:
    """The Markdown tables printed, each as its lines."""
    tables, current = [], []
    for line in stdout.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


@pytest.mark.slow
def test_apply_throughput_compares_with_snorkel_and_scales_over_dask_workers(tmp_path):
    stdout, result = _run("apply_throughput", tmp_path, "--sweep")
    tables = _tables(stdout)
    assert len(tables) == 3, stdout
    assert "vs Snorkel" in tables[0][0] and len(tables[0]) == 5  # header, rule, three methods
    assert "by rows and programs" in stdout and len(tables[1]) == 4  # header, rule, 1 and 10 programs
    assert "speed-up" in tables[2][0] and len(tables[2]) == 4
    assert sorted((p["rows"], p["programs"]) for p in result["sweep"]) == [(1_000, 1), (1_000, 10), (4_000, 1), (4_000, 10)]
    one = result["single_worker"]
    assert set(one["vs_snorkel"]) == {"snorkel", "bare_loop", "sandbox"}
    assert one["vs_snorkel"]["snorkel"] == pytest.approx(1.0)
    dask = result["dask"]
    assert dask["speedup"] > 0 and set(dask["parallelism"]) == {"1 worker", "2 workers"}
    assert all(seconds > 0 for runs in dask["cpu_seconds"].values() for seconds in runs)
    assert _plot(tmp_path, "--apply", str(tmp_path / "apply_throughput.json")) == "sandbox, dask"


@pytest.mark.slow
def test_label_model_scale_reports_peak_memory_and_agreement(tmp_path):
    stdout, result = _run("label_model_scale", tmp_path)
    tables = _tables(stdout)
    assert len(tables) == 3, stdout
    assert "peak RSS" in tables[0][0] and "s per million rows" in tables[1][0] and "same pseudolabels" in tables[2][0]
    # Both reads at the full size and at the smaller one: 10,000 rows (two of the four shards).
    assert sorted((p["read"], p["rows"]) for p in result["scaling"]) == [
        ("all votes", 10_000), ("all votes", 20_000), ("sampled read", 10_000), ("sampled read", 20_000)
    ]
    assert all(p["peak_rss"] > 0 and p["seconds"] > 0 for p in result["scaling"])
    assert [run["read"] for run in result["label"]] == ["all votes", "sampled read"]
    for run in result["label"]:
        assert 0 < run["peak_rss"] < 4 * 2**30
        assert run["n_fit_rows"] <= result["settings"]["max_fit_rows"]
        # Three classes and ten programs better than chance: far above 1/3.
        assert run["accuracy"] > 0.6
    assert [a["programs"] for a in result["agreement"]] == [10]
    assert 0.9 < result["agreement"][0]["agreement"] <= 1.0
    assert _plot(tmp_path, "--label-model", str(tmp_path / "label_model_scale.json")) == "label memory, label time"


@pytest.mark.slow
def test_end_to_end_runs_the_flow_twice_and_the_rerun_is_cached(tmp_path):
    stdout, result = _run("end_to_end", tmp_path)
    tables = _tables(stdout)
    assert len(tables) == 2, stdout
    assert "unchanged rerun" in stdout
    rerun = result["rerun_tasks"]
    for task in ("generate-programs", "apply-programs", "fit-label-model", "predict-labels"):
        assert set(rerun[task]["states"]) == {"Cached"}, (task, rerun[task])
    assert result["metrics"]["label_model.test.accuracy"] > 0.5
    # The distillation run: its own run folder, the votes from the vote cache, a student trained.
    assert set(result["student_tasks"]["distill-student"]["states"]) == {"Completed"}
    assert set(result["student_tasks"]["apply-programs"]["states"]) == {"Completed"}
    assert "distillation (tfidf + logreg)" in stdout


@pytest.mark.slow
def test_embedding_speed_compares_sorted_deduplicated_with_the_baseline(tmp_path):
    stdout, result = _run("embedding_speed", tmp_path, "--synthetic")
    tables = _tables(stdout)
    assert len(tables) == 1 and len(tables[0]) == 6, stdout
    assert "vs baseline" in tables[0][0]
    assert result["source"] == "synthetic comments" and result["rows"] == 48
    assert result["max_difference"] < 1e-3
    assert min(result["cache_hit_seconds"]) < result["cache_miss_seconds"]
