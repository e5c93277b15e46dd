"""Generate and validate programs; store the program set in the run folder."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import CachePolicy
from prefect.logging import get_run_logger

from alchemist_core.config import GeneratorConfig, SandboxConfig
from alchemist_core.refs import DatasetRef, ProgramSetRef, RejectedEntry, RunContext
from alchemist_core.selection_rows import SelectionRows
from tasks.caching import CACHE_POLICY, retry_transient
from tasks.progress import STAGE_HOOKS


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
        generator = (inputs or {}).get("generator")
        if generator is None:
            return None
        paths = []
        if generator.kind == "library" and generator.library_path:
            paths.append(generator.library_path)
        if generator.kind == "openai":
            paths.extend(generator.openai.documents or [])
        return files_digest(paths) if paths else None


def _program_set_ref(result, uri: str, valid_rows_seen: int) -> ProgramSetRef:
    return ProgramSetRef(
        uri=uri, digest=result.program_set.digest, names=tuple(result.program_set.names),
        rejected=tuple(RejectedEntry(name=r.name, reason=r.reason) for r in result.rejected),
        n_duplicates=result.n_duplicates, details=dict(result.details), valid_rows_seen=valid_rows_seen,
    )  # fmt: skip


@task(
    **STAGE_HOOKS,
    name="generate-programs", cache_policy=CACHE_POLICY + GeneratorSources(), persist_result=True, retries=1,
    retry_condition_fn=retry_transient,
)
def generate_programs(run: RunContext, dataset: DatasetRef, generator: GeneratorConfig, sandbox: SandboxConfig) -> ProgramSetRef:
    """Run the configured generator and write ``programs/`` in the run folder.

    The reference names what was rejected with reasons, and how many labeled valid rows the
    generator learned from (``valid_rows_seen``).
    """
    from alchemist_core.generators.build import build_generator, generation_context
    from alchemist_core.programs.sandbox import SandboxLimits
    from alchemist_core.stages import store_generated_programs

    logger = get_run_logger()
    context = generation_context(
        run.spec, dataset.manifest, dataset.data, fields=list(dataset.fields), n_programs=generator.n_programs,
        n_sample=generator.sample_rows, seed=run.seed, train_split=dataset.splits.train, valid_split=dataset.splits.valid,
    )  # fmt: skip
    limits = SandboxLimits(program_seconds=sandbox.program_seconds, memory_mb=sandbox.memory_mb)
    program_generator = build_generator(generator.model_dump(mode="json"), cache=run.cache, ledger_storage=run.run, limits=limits)
    result = program_generator.generate(context)
    for rejected in result.rejected:
        logger.warning("rejected %s: %s", rejected.name, rejected.reason)
    uri = store_generated_programs(result, run.run, generator.kind, "programs")
    logger.info(
        "%d programs from %s generator (%d rejected, %d duplicates)", len(result.program_set), generator.kind,
        len(result.rejected), result.n_duplicates,
    )  # fmt: skip
    # Valid rows the programs were fitted to: the choices then score each fold's own programs.
    return _program_set_ref(result, uri, context.n_valid_rows if result.fitted_to_labeled_rows else 0)


@task(
    **STAGE_HOOKS,
    name="generate-fold-programs", cache_policy=CACHE_POLICY + GeneratorSources(), persist_result=True, retries=1,
    retry_condition_fn=retry_transient,
)
def generate_fold_programs(
    run: RunContext, dataset: DatasetRef, generator: GeneratorConfig, sandbox: SandboxConfig, rows: SelectionRows
) -> list[ProgramSetRef]:
    """Rerun a generator that learns from labeled rows once per fold, without that fold's rows.

    ``rows`` are the run's selection rows. Fold ``k``'s programs go to
    ``selection/fold-<k>/programs``; they are what the out-of-fold choices score, so no
    program is scored on a row it was mined from.
    """
    from alchemist_core.generators.build import build_generator, generation_context
    from alchemist_core.programs.sandbox import SandboxLimits
    from alchemist_core.stages import store_generated_programs

    limits = SandboxLimits(program_seconds=sandbox.program_seconds, memory_mb=sandbox.memory_mb)
    program_generator = build_generator(generator.model_dump(mode="json"), cache=run.cache, ledger_storage=run.run, limits=limits)
    labeled_ids, _, folds = rows.labels()
    out = []
    for k in range(folds.n_folds):
        context = generation_context(
            run.spec, dataset.manifest, dataset.data, fields=list(dataset.fields), n_programs=generator.n_programs,
            n_sample=generator.sample_rows, seed=run.seed, train_split=dataset.splits.train, valid_split=dataset.splits.valid,
            valid_rows=labeled_ids[folds.labeled(k)].tolist(),
        )  # fmt: skip
        result = program_generator.generate(context)
        uri = store_generated_programs(result, run.run, generator.kind, "selection", f"fold-{k}", "programs")
        out.append(_program_set_ref(result, uri, 0))
    get_run_logger().info("programs regenerated once per fold (%d folds), each without its fold's labeled rows", len(out))
    return out
