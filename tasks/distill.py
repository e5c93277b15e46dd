"""Distil a student from the pseudolabels: features for every split, then the student."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import CACHE_POLICY, retry_transient


@task(name="distill-student", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def distill_student(
    labels: dict[str, list[str]],
    data_root: str,
    shards: dict[str, list[str]],
    fields: list[str],
    settings: dict[str, Any],
    splits: dict[str, str],
    cache_root: str,
    run_root: str,
    seed: int,
    core: str,
    label_model: dict[str, Any] | None = None,
    votes_digest: str | None = None,
    choice: str | None = None,
) -> dict[str, Any]:
    """Train the student the run chose out of fold (``choice``, ``model/features/rows``) and predict every split.

    ``label_model`` and ``votes_digest`` are what the pseudolabels were computed from: they
    key the cache on the pseudolabels' content, since their URIs stay the same. Without a
    ``choice`` (too few labeled rows to choose on) the configured default student is trained.
    """
    from alchemist_core.training import StudentChoice, distill_and_predict

    logger = get_run_logger()
    result = distill_and_predict(
        labels=labels,
        data=open_storage(data_root),
        shards=shards,
        fields=fields,
        settings=settings,
        splits=splits,
        cache=open_storage(cache_root),
        run=open_storage(run_root),
        seed=seed,
        choice=StudentChoice.parse(choice) if choice else None,
    )
    chosen = result["chosen"]
    logger.info(
        "student %s/%s/%s trained on %d rows (%s)", chosen["model"], chosen["features"], chosen["rows"],
        result["n_train_rows"], result["device"],
    )
    return result
