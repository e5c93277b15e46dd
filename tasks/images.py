"""Thin tasks of the image flow: ingest images, name concepts, CLIP features, programs, student, report.

Applying programs and the label model reuse the text flow's tasks (``tasks.apply``,
``tasks.aggregate``, ``tasks.run``): concept programs' votes have the same shape.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import open_storage
from tasks.caching import CACHE_POLICY, retry_transient

DEMO_OPTIONS = {"image_field": "path", "label_field": "label", "split_field": "split", "group_field": "background", "id_field": None}


@task(name="ingest-images", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def ingest_image_data(data: dict[str, Any], class_names: list[str], storage_root: str, seed: int = 0) -> dict[str, Any]:
    """Ingest ``data.source`` under ``<root>/datasets/<digest>``; a dataset already there is reused.

    Not cached by Prefect on purpose: the dataset folder is content-addressed, so this task
    always hashes the images and finds out for itself whether anything changed.
    """
    from alchemist_core.images import image_dataset_digest, ingest_images

    logger = get_run_logger()
    root = open_storage(storage_root)
    source = data["source"]
    options = {k: data.get(k) for k in ("image_field", "label_field", "id_field", "split_field", "group_field")}
    demo = source == "demo"
    if demo:
        from alchemist_core.image_demo import make_shapes_dataset

        if not root.is_local:
            raise ValueError("the built-in image demo needs a local storage root; give data.source for s3:// storage")
        source = str(make_shapes_dataset(root.local_path("demo-images"), seed=seed))
        options.update(DEMO_OPTIONS)
    read_options = dict(options, class_names=class_names, store=data["store"], shard_rows=data["shard_rows"])
    digest = image_dataset_digest(source, **read_options)
    dataset = ingest_images(source, root.child("datasets", digest[:16]), **read_options)
    logger.info(
        "image dataset %s: %s; %d images skipped", dataset.manifest.digest[:12],
        ", ".join(f"{s} {i.n_rows} images" for s, i in dataset.manifest.splits.items()), dataset.info.total_skipped,
    )  # fmt: skip
    if dataset.info.total_skipped:
        logger.warning("skipped unusable images: %s", dataset.info.n_skipped)
    return {
        "root": root.uri("datasets", dataset.manifest.folder),
        "digest": dataset.manifest.digest,
        "manifest": dataset.manifest.to_json(),
        "info": dataset.info.to_json(),
        "demo": demo,
    }


@task(name="name-concepts", retries=1, retry_condition_fn=retry_transient)
def name_concepts(
    settings: dict[str, Any], llm: dict[str, Any], spec: dict[str, Any], demo: bool, run_root: str, cache_root: str, seed: int
) -> dict[str, Any]:
    """Read the concept file or ask the LLM, and write ``concepts.json`` into the run folder.

    Not cached by Prefect: a concept file may change under the same path, and the LLM's
    reply is cached by the response cache anyway. The returned digest keys the later stages.
    """
    from alchemist_core.image_pipeline import name_concepts as core_name_concepts
    from alchemist_core.spec import TaskSpec

    result = core_name_concepts(
        settings, llm, TaskSpec.model_validate(spec), demo=demo, cache=open_storage(cache_root),
        run=open_storage(run_root), seed=seed,
    )  # fmt: skip
    get_run_logger().info("%d concepts from %s: %s", len(result["names"]), result["source"], ", ".join(result["names"]))
    return result


@task(name="compute-image-features", retries=1, retry_condition_fn=retry_transient)
def compute_image_features(
    dataset: dict[str, Any], concepts: dict[str, Any], clip: dict[str, Any], run_root: str, cache_root: str, seed: int, core: str
) -> dict[str, Any]:
    """CLIP embeddings, concept scores and zero-shot probabilities of every shard.

    Not cached by Prefect: a checkpoint file may change under the same path. The image
    embeddings are cached by content (model identity, including the checkpoint's sha256, and
    the shard's images), so a rerun encodes nothing it has seen.
    """
    from alchemist_core.concepts import load_concepts
    from alchemist_core.image_pipeline import write_image_features
    from alchemist_core.images import ImageDataset

    run = open_storage(run_root)
    result = write_image_features(
        ImageDataset.from_json({"manifest": dataset["manifest"], "info": dataset["info"]}),
        open_storage(dataset["root"]),
        load_concepts(run, "concepts.json"),
        clip,
        out=run,
        cache=open_storage(cache_root).child("clip"),
        seed=seed,
    )
    get_run_logger().info(
        "features of %d images with CLIP %s on %s (%d shards from the cache)",
        result["n_rows"], result["model"][:60], result["device"], result["cache_hits"],
    )  # fmt: skip
    # Only what the features are: later tasks key their caches on this dict.
    stable = {k: v for k, v in result.items() if k not in ("cache_hits", "device")}
    return {**stable, "root": run.root, "concepts": concepts["digest"]}


@task(name="plan-feature-shards", persist_result=False)
def plan_feature_shards(features: dict[str, Any], run_root: str, shards_per_task: int) -> list[list[dict[str, Any]]]:
    """Batches of feature shards for ``apply-programs``, with each shard's content digest.

    A feature shard's digest covers its images, the concepts and the CLIP model, so the
    vote cache and apply's cache key change with any of them, not with the shard's path.
    """
    from alchemist_core.runs import shard_plan

    manifest = {
        "splits": {
            split: {"shards": shards, "shard_digests": features["shard_digests"][split]}
            for split, shards in features["shards"].items()
        }
    }
    return shard_plan(manifest, run_root, shards_per_task)


@task(name="generate-concept-programs", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def generate_concept_programs(
    generator: dict[str, Any],
    llm: dict[str, Any],
    spec: dict[str, Any],
    concepts: dict[str, Any],
    features: dict[str, Any],
    dataset: dict[str, Any],
    splits: dict[str, str],
    run_root: str,
    cache_root: str,
    seed: int,
    sandbox: dict[str, Any],
    core: str,
) -> dict[str, Any]:
    """Write programs over the concept scores and store the program set in the run folder."""
    from alchemist_core.concepts import load_concepts
    from alchemist_core.image_pipeline import build_concept_generator, concept_generation_context
    from alchemist_core.programs import save_program_set
    from alchemist_core.sandbox import SandboxLimits
    from alchemist_core.spec import TaskSpec

    logger = get_run_logger()
    run = open_storage(run_root)
    task_spec = TaskSpec.model_validate(spec)
    concept_set = load_concepts(run, "concepts.json")
    context = concept_generation_context(
        task_spec, open_storage(features["root"]), features["shards"], open_storage(dataset["root"]),
        features["score_names"], n_programs=generator["n_programs"], n_sample=generator["sample_rows"], seed=seed,
        train_split=splits["train"], valid_split=splits["valid"],
    )  # fmt: skip
    limits = SandboxLimits(program_seconds=sandbox["program_seconds"], memory_mb=sandbox["memory_mb"])
    program_generator = build_concept_generator(
        generator, llm, concept_set, cache=open_storage(cache_root), ledger_storage=run, limits=limits
    )
    result = program_generator.generate(context)
    if not len(result.program_set):
        from alchemist_core.errors import InputError

        reasons = "; ".join(f"{r.name}: {r.reason}" for r in result.rejected[:5]) or "no candidate beat chance on the valid split"
        raise InputError(f"the {generator['kind']} generator wrote no usable concept program ({reasons})")
    uri = save_program_set(result.program_set, run, "programs")
    for rejected in result.rejected:
        logger.warning("rejected %s: %s", rejected.name, rejected.reason)
    logger.info("%d concept programs from the %s generator (%d rejected)", len(result.program_set), generator["kind"], len(result.rejected))
    return {
        "uri": uri,
        "digest": result.program_set.digest,
        "names": result.program_set.names,
        "rejected": [{"name": r.name, "reason": r.reason} for r in result.rejected],
        "n_duplicates": result.n_duplicates,
        "details": dict(result.details),
        # Valid rows the programs were fitted to: their valid scores are in-sample (the report says so).
        "valid_rows_seen": context.n_valid_rows if result.fitted_to_labeled_rows else 0,
    }


@task(name="distill-image-student", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def distill_image_student(
    labels: dict[str, list[str]],
    features: dict[str, Any],
    dataset: dict[str, Any],
    settings: dict[str, Any],
    splits: dict[str, str],
    run_root: str,
    seed: int,
    core: str,
    votes_digest: str | None = None,
) -> dict[str, Any]:
    """Train the student on the training split's pseudolabels over CLIP embeddings; predict every split.

    ``votes_digest`` keys the cache on what the pseudolabels were computed from: their URIs
    stay the same when the votes change.
    """
    from alchemist_core.image_pipeline import distill_image_student as core_distill

    result = core_distill(
        labels=labels, features=open_storage(features["root"]), shards=features["shards"],
        data=open_storage(dataset["root"]), settings=settings, splits=splits, run=open_storage(run_root), seed=seed,
        clip_identity=features["model"],
    )  # fmt: skip
    get_run_logger().info("student trained on %d images (CLIP embeddings, %s)", result["n_train_rows"], result["device"])
    return result


@task(name="evaluate-images", retries=1, retry_condition_fn=retry_transient)
def evaluate_images(
    run: dict[str, Any],
    dataset: dict[str, Any],
    concepts: dict[str, Any],
    features: dict[str, Any],
    programs: dict[str, Any],
    votes: dict[str, Any],
    label_model: dict[str, Any],
    labels: dict[str, list[str]],
    student: dict[str, Any] | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Metrics of the programs, the label model, the student and CLIP zero-shot, per group too; writes ``metrics.json``."""
    from alchemist_core.image_report import collect_image_results
    from alchemist_core.images import ImageDataset
    from alchemist_core.spec import TaskSpec

    results = collect_image_results(
        spec=TaskSpec.model_validate(run["spec"]),
        run_info=run,
        dataset=ImageDataset.from_json({"manifest": dataset["manifest"], "info": dataset["info"]}),
        data=open_storage(dataset["root"]),
        features=features,
        concepts=concepts,
        programs=programs,
        votes=votes,
        label_model=label_model,
        labels=labels,
        student=student,
        run=open_storage(run["run_root"]),
        settings=settings,
    )
    open_storage(run["run_root"]).write_json(results["summary"], "metrics.json")
    logger = get_run_logger()
    for key, value in sorted(results["summary"].items()):
        logger.info("%s = %s", key, value)
    return results


@task(name="write-image-report", retries=1, retry_condition_fn=retry_transient)
def write_image_report(results: dict[str, Any], run_root: str) -> str:
    """Render ``report.md`` and the run's ``manifest.json``; returns the report's URI."""
    from alchemist_core.image_report import render_image_report

    run = open_storage(run_root)
    images = {k: results["images"][k] for k in ("image_column", "n_skipped", "total_skipped", "groups")}
    run.write_json(
        {"run": results["run"], "dataset": {**results["dataset"], "images": images}, "metrics": results["summary"]},
        "manifest.json",
    )
    return run.write_text(render_image_report(results), "report.md")
