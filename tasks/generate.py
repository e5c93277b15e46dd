"""Generate and validate programs; store the program set in the run folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from prefect import task
from prefect.cache_policies import CachePolicy
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import CACHE_POLICY, retry_transient


def files_digest(paths: Iterable[str]) -> str:
    """Digest of the files under ``paths`` (folders recursively): names and bytes."""
    digest = hashlib.sha256()
    for raw in paths:
        path = Path(raw).expanduser()
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest() if file.is_file() else b"absent")
    return digest.hexdigest()


@dataclass
class GeneratorSources(CachePolicy):
    """The files a generator reads beside its settings: a library folder, retrieval documents.

    Their paths are inputs; their content is not, so editing a library program would
    otherwise be served the old program set from the cache.
    """

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs):
        generator = (inputs or {}).get("generator") or {}
        paths = []
        if generator.get("kind") == "library" and generator.get("library_path"):
            paths.append(generator["library_path"])
        if generator.get("kind") == "openai":
            paths.extend((generator.get("openai") or {}).get("documents") or [])
        return files_digest(paths) if paths else None


@task(
    name="generate-programs", cache_policy=CACHE_POLICY + GeneratorSources(), persist_result=True, retries=1,
    retry_condition_fn=retry_transient,
)
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

    Returns the program-set URI and digest, what was rejected with reasons, and how many
    labeled valid rows the generator learned from (``valid_rows_seen``).
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
        # Valid rows the programs were fitted to: the choices then score each fold's own programs.
        "valid_rows_seen": context.n_valid_rows if result.fitted_to_labeled_rows else 0,
    }


@task(
    name="generate-fold-programs", cache_policy=CACHE_POLICY + GeneratorSources(), persist_result=True, retries=1,
    retry_condition_fn=retry_transient,
)
def generate_fold_programs(
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
    rows: Any,
) -> list[dict[str, Any]]:
    """Rerun a generator that learns from labeled rows once per fold, without that fold's rows.

    ``rows`` is the run's :class:`~alchemist_core.selection_rows.SelectionRows`. Fold ``k``'s
    programs go to ``selection/fold-<k>/programs``; they are what the out-of-fold choices score,
    so no program is scored on a row it was mined from. Returns one program-set reference
    (``uri``, ``digest``, ``names``) per fold.
    """
    from alchemist_core.generate import build_generator, generation_context
    from alchemist_core.ingest import DatasetManifest
    from alchemist_core.programs import save_program_set
    from alchemist_core.sandbox import SandboxLimits
    from alchemist_core.spec import TaskSpec

    task_spec = TaskSpec.model_validate(spec)
    manifest = DatasetManifest.from_json(dataset["manifest"])
    data_storage = open_storage(dataset["root"])
    run = open_storage(run_root)
    limits = SandboxLimits(program_seconds=sandbox["program_seconds"], memory_mb=sandbox["memory_mb"])
    program_generator = build_generator(generator, cache=open_storage(cache_root), ledger_storage=run, limits=limits)
    labeled_ids, _, folds = rows.labels()
    out = []
    for k in range(folds.n_folds):
        context = generation_context(
            task_spec, manifest, data_storage, fields=fields, n_programs=generator["n_programs"],
            n_sample=generator["sample_rows"], seed=seed, train_split=splits["train"], valid_split=splits["valid"],
            valid_rows=labeled_ids[folds.labeled(k)].tolist(),
        )
        program_set = program_generator.generate(context).program_set
        uri = save_program_set(program_set, run, "selection", f"fold-{k}", "programs")
        out.append({"uri": uri, "digest": program_set.digest, "names": program_set.names})
    get_run_logger().info("programs regenerated once per fold (%d folds), each without its fold's labeled rows", len(out))
    return out

