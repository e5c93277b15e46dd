"""Generate and validate programs; store the program set in the run folder."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import CACHE_POLICY, retry_transient


@task(name="generate-programs", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def generate_programs(
    generator: dict[str, Any],
    spec: dict[str, Any],
    dataset: dict[str, Any],
    fields: list[str],
    splits: dict[str, str],
    run_root: str,
    cache_root: str,
    seed: int,
    sandbox: dict[str, Any],
    core: str,
) -> dict[str, Any]:
    """Run the configured generator and write ``programs/`` in the run folder.

    Returns the program-set URI and digest, and what was rejected with reasons.
    """
    from alchemist_core.generate import build_generator, generation_context
    from alchemist_core.ingest import DatasetManifest
    from alchemist_core.programs import save_program_set
    from alchemist_core.sandbox import SandboxLimits
    from alchemist_core.spec import TaskSpec

    logger = get_run_logger()
    task_spec = TaskSpec.model_validate(spec)
    manifest = DatasetManifest.from_json(dataset["manifest"])
    data_storage = open_storage(dataset["root"])
    run = open_storage(run_root)
    context = generation_context(
        task_spec, manifest, data_storage, fields=fields, n_programs=generator["n_programs"],
        n_sample=generator["sample_rows"], seed=seed, train_split=splits["train"], valid_split=splits["valid"],
    )
    limits = SandboxLimits(program_seconds=sandbox["program_seconds"], memory_mb=sandbox["memory_mb"])
    program_generator = build_generator(generator, cache=open_storage(cache_root), ledger_storage=run, limits=limits)
    result = program_generator.generate(context)
    uri = save_program_set(result.program_set, run, "programs")
    for rejected in result.rejected:
        logger.warning("rejected %s: %s", rejected.name, rejected.reason)
    logger.info("%d programs from %s generator (%d rejected, %d duplicates)", len(result.program_set), generator["kind"], len(result.rejected), result.n_duplicates)
    return {
        "uri": uri,
        "digest": result.program_set.digest,
        "names": result.program_set.names,
        "rejected": [{"name": r.name, "reason": r.reason} for r in result.rejected],
        "n_duplicates": result.n_duplicates,
        "details": dict(result.details),
    }
