"""Ingest: the source data becomes Parquet shards with row ids, gold labels kept aside."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import retry_transient


@task(name="ingest-data", persist_result=False, retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def ingest_data(
    data: dict[str, Any], fields: list[str], class_names: list[str], storage_root: str, seed: int = 0, needs_train: bool = True
) -> dict[str, Any]:
    """Ingest ``data.source`` under ``<root>/datasets/<digest>``; a dataset already there is reused.

    A dataset is carved into train / valid / test when ``data.split_fractions`` says so, or,
    for a run that ``needs_train``, when it has a single split and no training split
    (:func:`alchemist_core.carve.carve_fractions`).

    Not cached by Prefect on purpose: the dataset folder is content-addressed, so this task
    always hashes the source and finds out for itself whether anything changed.
    """
    from alchemist_core.carve import carve_dataset, carve_digest, carve_fractions, carve_message
    from alchemist_core.demo import make_demo_dataset
    from alchemist_core.ingest import dataset_digest, ingest_dataset

    logger = get_run_logger()
    root = open_storage(storage_root)
    source = data["source"]
    options = {k: data.get(k) for k in ("format", "label_field", "id_field", "split_field")}
    if source == "demo":
        # The demo CSV is made locally (beside the artifacts when the root is a folder) and
        # ingested into the root like any file; its bytes depend on the seed only.
        if root.is_local:
            demo_path = root.local_path("demo", "demo.csv")
        else:
            demo_path = os.path.join(tempfile.gettempdir(), "alchemist-demo", f"seed-{seed}", "demo.csv")
        source = str(make_demo_dataset(demo_path, seed=seed))
        options.update(format="csv", split_field="split", id_field="id")
    read_options = dict(fields=fields, class_names=class_names, shard_rows=data["shard_rows"], **options)
    digest = dataset_digest(source, **read_options)
    manifest = ingest_dataset(source, root.child("datasets", digest[:16]), **read_options)
    fractions = carve_fractions(manifest, data, needs_train=needs_train)
    if fractions is not None:
        carved = carve_digest(manifest.digest, fractions, data["split_seed"])
        manifest = carve_dataset(
            root.child("datasets", manifest.folder), root.child("datasets", carved[:16]), fractions=fractions, seed=data["split_seed"]
        )
        logger.info("carved %s with seed %d: %s", list(fractions), data["split_seed"], carve_message(manifest))
    logger.info(
        "dataset %s: %s", manifest.digest[:12], ", ".join(f"{s} {i.n_rows} rows" for s, i in manifest.splits.items())
    )
    return {"root": root.uri("datasets", manifest.folder), "digest": manifest.digest, "manifest": manifest.to_json()}
