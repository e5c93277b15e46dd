"""Tasks that look after a storage root rather than a run: pruning old cache entries."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger

from alchemist_core.cache_admin import PruneReport
from alchemist_core.data.storage import open_storage
from tasks.caching import retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="prune-cache", persist_result=False, retries=2, retry_condition_fn=retry_transient)
def prune_cache(storage: str, older_than: str, areas: Sequence[str] | None, dry_run: bool) -> PruneReport:
    """Remove the cache files of ``areas`` under ``storage`` written more than ``older_than`` ago; what was removed."""
    from alchemist_core.cache_admin import prune_cache as prune

    report = prune(open_storage(storage), older_than, areas=areas, dry_run=dry_run)
    get_run_logger().info(
        "%s %d cache files (%.1f MiB) under %s last written before %s",
        "would remove" if dry_run else "removed", report.n_removed, report.bytes_removed / 2**20, report.root,
        report.to_dict()["cutoff"],
    )  # fmt: skip
    return report


@task(**STAGE_HOOKS, name="publish-prune-report", persist_result=False)
def publish_prune_report(pruned: PruneReport) -> None:
    """One table row per cache area: what was found, removed and kept (the UI's Artifacts tab)."""
    report = pruned.to_dict()
    rows = [
        {
            "area": area["area"],
            "files": area["n_files"],
            "removed" if not report["dry_run"] else "would remove": area["n_removed"],
            "MiB": round(area["bytes_removed"] / 2**20, 2),
            "kept": area["n_kept"],
            "undated (kept)": area["n_undated"],
        }
        for area in report["areas"]
    ]
    create_table_artifact(
        rows,
        key="prune-cache",
        description=f"cache files last written before {report['cutoff']} under {report['root']}"
        + (" (dry run: nothing removed)" if report["dry_run"] else ""),
    )
