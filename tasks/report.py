"""Evaluate the run against gold labels where they exist, and write the report."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import retry_transient


@task(name="evaluate-run", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def evaluate_run(
    run: dict[str, Any],
    dataset: dict[str, Any],
    programs: dict[str, Any],
    votes: dict[str, Any],
    label_model: dict[str, Any],
    labels: dict[str, list[str]],
    student: dict[str, Any] | None,
    settings: dict[str, Any],
    selection: Any = None,
    final: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Metrics of every program, the label model, the student and the final labels; writes ``metrics.json``."""
    from alchemist_core.ingest import DatasetManifest
    from alchemist_core.spec import TaskSpec
    from alchemist_core.summary import collect_results

    results = collect_results(
        spec=TaskSpec.model_validate(run["spec"]),
        run_info=run,
        manifest=DatasetManifest.from_json(dataset["manifest"]),
        data=open_storage(dataset["root"]),
        run=open_storage(run["run_root"]),
        programs=programs,
        votes=votes,
        label_model=label_model,
        labels=labels,
        student=student,
        settings=settings,
        selection=selection,
        final=final,
    )
    open_storage(run["run_root"]).write_json(results["summary"], "metrics.json")
    for key, value in sorted(results["summary"].items()):
        get_run_logger().info("%s = %s", key, value)
    return results


@task(name="write-report", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def write_report(results: dict[str, Any], run_root: str) -> str:
    """Render ``report.md`` and the run's ``manifest.json``; returns the report's URI."""
    from alchemist_core.report import render_report

    run = open_storage(run_root)
    text = render_report(results)
    for key, title in (("dropped", "Programs left out of the label model"), ("rejected", "Rejected programs")):
        if results.get(key):
            lines = ["", f"## {title}", ""] + [f"- `{r['name']}`: {r['reason']}" for r in results[key]]
            text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    run.write_json(
        {"run": results["run"], "dataset": results["dataset"], "metrics": results["summary"]}, "manifest.json"
    )
    return run.write_text(text, "report.md")
