"""The image pipeline: ingest images, name concepts, CLIP features, concept programs, label model, student, report.

Programs are applied and aggregated by the text pipeline's own tasks: concept programs'
votes have the same shape. Expensive tasks are cached on content, with their results under
the storage root, as in ``flows/label_dataset.py``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.image_pipeline import ImageRunConfig
from tasks.aggregate import fit_label_model, predict_labels
from tasks.apply import apply_programs, dask_cluster
from tasks.caching import core_digest, persisted_in
from tasks.images import (
    compute_image_features,
    distill_image_student,
    evaluate_images,
    generate_concept_programs,
    ingest_image_data,
    name_concepts,
    plan_feature_shards,
    write_image_report,
)
from tasks.run import collect_votes, curate_programs, start_run
from tasks.select import select_label_model

FEATURES_CORE = ("alchemist_core.image_pipeline", "alchemist_core.clip_features", "alchemist_core.images", "alchemist_core.concepts")
GENERATE_CORE = ("alchemist_core.image_pipeline", "alchemist_core.generators.concept_programs", "alchemist_core.generators.repair", "alchemist_core.prompts",
                 "alchemist_core.concepts", "alchemist_core.apply", "alchemist_core.policy")
APPLY_CORE = ("alchemist_core.votes", "alchemist_core.apply", "alchemist_core.sandbox", "alchemist_core.sandbox_worker", "alchemist_core.policy")
AGGREGATE_CORE = ("alchemist_core.aggregate", "alchemist_core.pseudolabels", "alchemist_core.votes", "alchemist_core.selection")
SELECT_CORE = ("alchemist_core.selection", "alchemist_core.selection_rows", "alchemist_core.aggregate", "alchemist_core.curate",
               "alchemist_core.votes", "alchemist_core.evaluate", "alchemist_core.label_matrix")
DISTILL_CORE = ("alchemist_core.image_pipeline", "alchemist_core.distill", "alchemist_core.pseudolabels", "alchemist_core.features")


@flow(name="label-images")
def label_images(config: ImageRunConfig) -> dict[str, Any]:
    """Label an image dataset end to end through concept programs; returns the run's summary."""
    settings = config.model_dump(mode="json")
    run = start_run(settings, config.digest)
    cached = persisted_in(run["storage_root"])
    spec = run["spec"]
    class_names = [c["name"] for c in spec["classes"]]
    splits = {"train": config.data.train_split, "valid": config.data.valid_split, "test": config.data.test_split}

    dataset = ingest_image_data(settings["data"], class_names, run["storage_root"], config.seed)
    concepts = name_concepts(
        settings["concepts"], settings["llm"], spec, dataset["demo"], run["run_root"], run["cache_root"], config.seed
    )
    features = compute_image_features(
        dataset, concepts, settings["clip"], run["run_root"], run["cache_root"], config.seed, core_digest(*FEATURES_CORE)
    )
    programs = cached(generate_concept_programs)(
        settings["generator"], settings["llm"], spec, concepts, features, dataset, splits, run["run_root"],
        run["cache_root"], config.seed, settings["sandbox"], core_digest(*GENERATE_CORE),
    )
    batches = plan_feature_shards(features, run["run_root"], config.dask.shards_per_task)
    with dask_cluster(config.dask.address, config.dask.n_workers) as address:
        futures = [
            cached(apply_programs).submit(
                batch, run["run_root"], programs, len(class_names), features["score_names"], settings["sandbox"],
                address, run["cache_root"], core_digest(*APPLY_CORE),
            )
            for batch in batches
        ]
        results = [future.result() for future in futures]
    votes = collect_votes(results, programs["names"], run["run_root"])
    votes = cached(curate_programs)(
        votes, dataset["root"], len(class_names), splits, programs["uri"], config.seed, programs_digest=programs["digest"]
    )

    selection = cached(select_label_model)(
        votes, dataset["root"], settings, spec, splits, run["run_root"], config.seed, core_digest(*SELECT_CORE, *GENERATE_CORE),
        programs=programs, features=features, cache_root=run["cache_root"],
    )
    model = cached(fit_label_model)(
        votes["votes"], votes["active"], dataset["root"], settings["label_model"], len(class_names),
        config.data.train_split, config.data.valid_split, config.seed, run["run_root"], core_digest(*AGGREGATE_CORE),
        votes_digest=votes["digest"], selection=selection,
    )
    labels = cached(predict_labels)(
        model, votes["votes"], votes["active"], run["run_root"], core_digest(*AGGREGATE_CORE), votes_digest=votes["digest"]
    )
    student = None
    if config.student.enabled:
        student = cached(distill_image_student)(
            labels, features, dataset, settings["student"], splits, run["run_root"], config.seed,
            core_digest(*DISTILL_CORE), votes_digest=votes["digest"],
        )
    results = evaluate_images(run, dataset, concepts, features, programs, votes, model, labels, student, settings)
    report = write_image_report(results, run["run_root"])
    return {"run_id": run["run_id"], "run_root": run["run_root"], "report": report, "metrics": results["summary"]}

