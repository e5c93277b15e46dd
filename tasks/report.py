"""Evaluate the run against gold labels where they exist, and write the report."""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import RunConfig
from alchemist_core.refs import DatasetRef, RunContext, RunOutputs, RunReport
from tasks.caching import retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="report-run", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def report_run(run: RunContext, dataset: DatasetRef, outputs: RunOutputs, config: RunConfig) -> RunReport:
    """Metrics of every program, the label model, the student and the final labels; ``metrics.json``,
    ``manifest.json`` and ``report.md`` (see :func:`alchemist_core.report.summary.write_run_report`)."""
    from alchemist_core.report.summary import write_run_report

    report = write_run_report(run, dataset, outputs, config.model_dump(mode="json"))
    for key, value in sorted(report.summary.items()):
        get_run_logger().info("%s = %s", key, value)
    return report
