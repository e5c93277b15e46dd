"""Prune cache: remove old entries of a storage root's caches (what a weekly schedule runs)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.cache_admin import PruneConfig
from tasks.maintenance import prune_cache as prune_cache_task
from tasks.maintenance import publish_prune_report


@flow(name="prune-cache", persist_result=False)
def prune_cache(config: PruneConfig) -> dict[str, Any]:
    """Remove cache files under ``config.storage`` last written more than ``config.older_than`` ago.

    Areas among ``votes``, ``embeddings``, ``clip``, ``results`` (Prefect's task results) and
    ``llm``; by default all but ``llm``. Run folders and datasets are never touched; a pruned
    entry is computed again by the next run that needs it. Returns the report as a dict.
    """
    report = prune_cache_task(config.storage, config.older_than, config.areas, config.dry_run)
    publish_prune_report(report)
    return report.to_dict()
