"""Ingest: the source data becomes Parquet shards with row ids, gold labels kept aside."""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import DataConfig
from alchemist_core.data.storage import open_storage
from alchemist_core.refs import DatasetRef, Splits
from tasks.caching import retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="ingest-data", persist_result=False, retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def ingest_data(
    data: DataConfig, fields: list[str], class_names: list[str], storage_root: str, seed: int = 0, needs_train: bool = True
) -> DatasetRef:
    """Ingest ``data.source`` under ``<root>/datasets/<digest>`` (see :func:`alchemist_core.stages.ingest_run_data`).

    Not cached by Prefect on purpose: the dataset folder is content-addressed, so this task
    always hashes the source and finds out for itself whether anything changed.
    """
    from alchemist_core.stages import ingest_run_data

    logger = get_run_logger()
    ingested = ingest_run_data(open_storage(storage_root), data, fields, class_names, seed=seed, needs_train=needs_train)
    if ingested.carved:
        logger.info("%s", ingested.carved)
    manifest = ingested.manifest
    logger.info("dataset %s: %s", manifest.digest[:12], ", ".join(f"{s} {i.n_rows} rows" for s, i in manifest.splits.items()))
    return DatasetRef(
        root=ingested.uri, digest=manifest.digest, manifest=manifest, fields=tuple(fields),
        splits=Splits(train=data.train_split, valid=data.valid_split, test=data.test_split),
    )  # fmt: skip
