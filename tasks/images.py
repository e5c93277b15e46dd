"""Thin tasks of the image flow: ingest images, name concepts, CLIP features, programs, student, report.

Applying programs and the label model reuse the text flow's tasks (``tasks.apply``,
``tasks.aggregate``, ``tasks.run``): concept programs' votes have the same shape.
"""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import SandboxConfig
from alchemist_core.data.storage import open_storage
from alchemist_core.images.pipeline import (
    ClipConfig,
    ConceptConfig,
    ImageDataConfig,
    ImageGeneratorConfig,
    ImageRunConfig,
    ImageStudentConfig,
    LLMConfig,
)
from alchemist_core.refs import (
    ConceptSetRef,
    FeatureSetRef,
    ImageDatasetRef,
    ImageRunOutputs,
    ProgramSetRef,
    PseudolabelSet,
    RejectedEntry,
    RunContext,
    RunReport,
    ShardJob,
    Splits,
    StudentRef,
)
from tasks.caching import CACHE_POLICY, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="ingest-images", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def ingest_image_data(data: ImageDataConfig, class_names: list[str], storage_root: str, seed: int = 0) -> ImageDatasetRef:
    """Ingest ``data.source`` under ``<root>/datasets/<digest>`` (see :func:`alchemist_core.images.stages.ingest_run_images`).

    Not cached by Prefect on purpose: the dataset folder is content-addressed, so this task
    always hashes the images and finds out for itself whether anything changed.
    """
    from alchemist_core.images.stages import ingest_run_images

    logger = get_run_logger()
    dataset, demo = ingest_run_images(open_storage(storage_root), data, class_names, seed=seed)
    logger.info(
        "image dataset %s: %s; %d images skipped", dataset.manifest.digest[:12],
        ", ".join(f"{s} {i.n_rows} images" for s, i in dataset.manifest.splits.items()), dataset.info.total_skipped,
    )  # fmt: skip
    if dataset.info.total_skipped:
        logger.warning("skipped unusable images: %s", dataset.info.n_skipped)
    return ImageDatasetRef(
        root=open_storage(storage_root).uri("datasets", dataset.manifest.folder), digest=dataset.manifest.digest, dataset=dataset,
        splits=Splits(train=data.train_split, valid=data.valid_split, test=data.test_split), demo=demo,
    )  # fmt: skip


@task(**STAGE_HOOKS, name="name-concepts", retries=1, retry_condition_fn=retry_transient)
def name_concepts(run: RunContext, settings: ConceptConfig, llm: LLMConfig, demo: bool) -> ConceptSetRef:
    """Read the concept file or ask the LLM, and write ``concepts.json`` into the run folder.

    Not cached by Prefect: a concept file may change under the same path, and the LLM's
    reply is cached by the response cache anyway. The returned digest keys the later stages.
    """
    from alchemist_core.images.pipeline import name_concepts as core_name_concepts

    result = core_name_concepts(
        settings.model_dump(mode="json"), llm.model_dump(mode="json"), run.spec, demo=demo, cache=run.cache, run=run.run,
        seed=run.seed,
    )  # fmt: skip
    get_run_logger().info("%d concepts from %s: %s", len(result["names"]), result["source"], ", ".join(result["names"]))
    return ConceptSetRef(
        uri=result["uri"], digest=result["digest"], source=result["source"], score_names=tuple(result["score_names"]),
        names=tuple(result["names"]),
    )  # fmt: skip


@task(**STAGE_HOOKS, name="compute-image-features", retries=1, retry_condition_fn=retry_transient)
def compute_image_features(run: RunContext, dataset: ImageDatasetRef, concepts: ConceptSetRef, clip: ClipConfig) -> FeatureSetRef:
    """CLIP embeddings, concept scores and zero-shot probabilities of every shard.

    Not cached by Prefect: a checkpoint file may change under the same path. The image
    embeddings are cached by content (model identity, including the checkpoint's sha256, and
    the shard's images), so a rerun encodes nothing it has seen.
    """
    from alchemist_core.images.concepts import load_concepts
    from alchemist_core.images.pipeline import write_image_features

    result = write_image_features(
        dataset.dataset, dataset.data, load_concepts(run.run, "concepts.json"), clip.model_dump(mode="json"), out=run.run,
        cache=run.cache.child("clip"), seed=run.seed,
    )  # fmt: skip
    get_run_logger().info(
        "features of %d images with CLIP %s on %s (%d shards from the cache)",
        result["n_rows"], result["model"][:60], result["device"], result["cache_hits"],
    )  # fmt: skip
    return FeatureSetRef(
        root=run.run_root, digest=result["digest"], shards={k: tuple(v) for k, v in result["shards"].items()},
        shard_digests={k: tuple(v) for k, v in result["shard_digests"].items()}, score_names=tuple(result["score_names"]),
        model=result["model"], embedding_dim=result["embedding_dim"], logit_scale=result["logit_scale"], n_rows=result["n_rows"],
        concepts=concepts.digest,
    )  # fmt: skip


@task(**STAGE_HOOKS, name="plan-feature-shards", persist_result=False)
def plan_feature_shards(features: FeatureSetRef, run: RunContext, shards_per_task: int) -> list[list[ShardJob]]:
    """Batches of feature shards for ``apply-programs``, with each shard's content digest.

    A feature shard's digest covers its images, the concepts and the CLIP model, so the
    vote cache and apply's cache key change with any of them, not with the shard's path.
    """
    from alchemist_core.runs import shard_plan

    manifest = {
        "splits": {
            split: {"shards": list(shards), "shard_digests": list(features.shard_digests[split])}
            for split, shards in features.shards.items()
        }
    }
    return shard_plan(manifest, run.run_root, shards_per_task)


@task(**STAGE_HOOKS, name="generate-concept-programs", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def generate_concept_programs(
    run: RunContext, dataset: ImageDatasetRef, features: FeatureSetRef, generator: ImageGeneratorConfig, llm: LLMConfig,
    sandbox: SandboxConfig,
) -> ProgramSetRef:
    """Write programs over the concept scores and store the program set in the run folder.

    ``features`` count by their digest, which covers the concepts scored.
    """
    from alchemist_core.images.concepts import load_concepts
    from alchemist_core.images.pipeline import (
        build_concept_generator,
        concept_generation_context,
    )
    from alchemist_core.programs.sandbox import SandboxLimits
    from alchemist_core.stages import store_generated_programs

    logger = get_run_logger()
    context = concept_generation_context(
        run.spec, open_storage(features.root), features.shards, dataset.data, list(features.score_names),
        n_programs=generator.n_programs, n_sample=generator.sample_rows, seed=run.seed, train_split=dataset.splits.train,
        valid_split=dataset.splits.valid,
    )  # fmt: skip
    limits = SandboxLimits(program_seconds=sandbox.program_seconds, memory_mb=sandbox.memory_mb)
    program_generator = build_concept_generator(
        generator.model_dump(mode="json"), llm.model_dump(mode="json"), load_concepts(run.run, "concepts.json"), cache=run.cache,
        ledger_storage=run.run, limits=limits,
    )  # fmt: skip
    result = program_generator.generate(context)
    for rejected in result.rejected:
        logger.warning("rejected %s: %s", rejected.name, rejected.reason)
    uri = store_generated_programs(result, run.run, generator.kind, "programs")
    logger.info("%d concept programs from the %s generator (%d rejected)", len(result.program_set), generator.kind, len(result.rejected))
    return ProgramSetRef(
        uri=uri, digest=result.program_set.digest, names=tuple(result.program_set.names),
        rejected=tuple(RejectedEntry(name=r.name, reason=r.reason) for r in result.rejected), n_duplicates=result.n_duplicates,
        details=dict(result.details),
        # Valid rows the programs were fitted to: their valid scores are in-sample (the report says so).
        valid_rows_seen=context.n_valid_rows if result.fitted_to_labeled_rows else 0,
    )  # fmt: skip


@task(**STAGE_HOOKS, name="distill-image-student", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def distill_image_student(
    run: RunContext, dataset: ImageDatasetRef, features: FeatureSetRef, pseudolabels: PseudolabelSet, settings: ImageStudentConfig
) -> StudentRef:
    """Train the student on the training split's pseudolabels over CLIP embeddings; predict every split.

    ``pseudolabels`` count by what they were computed from (the label model and the votes).
    """
    from alchemist_core.images.pipeline import distill_image_student as core_distill

    splits = dataset.splits
    result = core_distill(
        pseudolabels={split: list(uris) for split, uris in pseudolabels.shards.items()}, features=open_storage(features.root),
        shards=features.shards, data=dataset.data, settings=settings.model_dump(mode="json"),
        splits={"train": splits.train, "valid": splits.valid, "test": splits.test}, run=run.run, seed=run.seed,
        clip_identity=features.model,
    )  # fmt: skip
    get_run_logger().info("student trained on %d images (CLIP embeddings, %s)", result["n_train_rows"], result["device"])
    return StudentRef(
        uri=result["uri"], predictions=result["predictions"], n_train_rows=result["n_train_rows"], device=result["device"]
    )


@task(**STAGE_HOOKS, name="report-image-run", retries=1, retry_condition_fn=retry_transient)
def report_image_run(run: RunContext, dataset: ImageDatasetRef, outputs: ImageRunOutputs, config: ImageRunConfig) -> RunReport:
    """Metrics of the programs, the label model, the student and CLIP zero-shot, per group too; ``metrics.json``,
    ``manifest.json`` and ``report.md`` (see :func:`alchemist_core.images.report.write_image_run_report`)."""
    from alchemist_core.images.report import write_image_run_report

    report = write_image_run_report(run, dataset, outputs, config.model_dump(mode="json"))
    logger = get_run_logger()
    for key, value in sorted(report.summary.items()):
        logger.info("%s = %s", key, value)
    return report
