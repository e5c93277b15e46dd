"""The decisions of the image pipeline's stages, kept out of the Prefect tasks that call them.

The image counterpart of :mod:`alchemist_core.stages`, apart so that a text task's code
digest does not follow the image pipeline.
"""

from __future__ import annotations

from typing import Any, Sequence

from alchemist_core.data.storage import Storage, open_storage


def choose_image_label_model(
    votes: Any, programs: Any, features: Any, data: Storage, spec: Any, config: Any, *, run: Storage, cache: Storage, seed: int = 0
) -> Any:
    """Choose the image run's label model out of fold on the valid split's votes, or ``None``.

    When the run's programs were fitted to the labeled valid rows (``programs.valid_rows_seen``),
    the generator is run again once per fold without that fold's rows, and each fold is scored
    with its own programs' votes; otherwise the run's votes serve every fold. ``config`` is the
    run's :class:`~alchemist_core.images.pipeline.ImageRunConfig`; ``features`` its
    :class:`~alchemist_core.refs.FeatureSetRef`. ``None`` when the valid split has too few
    labeled rows to choose on.
    """
    from alchemist_core.config import SelectionConfig
    from alchemist_core.images.concepts import load_concepts
    from alchemist_core.images.pipeline import (
        build_concept_generator,
        concept_fold_votes,
    )
    from alchemist_core.programs.sandbox import SandboxLimits
    from alchemist_core.selection import (
        choose_label_model_only,
        label_model_candidates,
        resolve_metric,
    )
    from alchemist_core.selection_rows import votes_on_labeled_rows

    # The image run has no selection section: the defaults of the text run's.
    selection, data_config = SelectionConfig(), config.data
    train, valid = data_config.train_split, data_config.valid_split
    if programs.valid_rows_seen:
        limits = SandboxLimits(program_seconds=config.sandbox.program_seconds, memory_mb=config.sandbox.memory_mb)
        generator = build_concept_generator(
            config.generator.model_dump(mode="json"), config.llm.model_dump(mode="json"), load_concepts(run, "concepts.json"),
            cache=cache, ledger_storage=run, limits=limits,
        )  # fmt: skip
        found = concept_fold_votes(
            generator, spec, open_storage(features.root), features.shards, data, list(features.score_names),
            n_programs=config.generator.n_programs, n_sample=config.generator.sample_rows, seed=seed, train_split=train,
            valid_split=valid, max_train_rows=selection.max_train_rows, n_folds=selection.n_folds, limits=limits,
        )  # fmt: skip
    else:
        found = votes_on_labeled_rows(
            data, votes.split_shards(train), votes.split_shards(valid), list(votes.active), valid_split=valid,
            max_train_rows=selection.max_train_rows, n_folds=selection.n_folds, seed=seed,
        )  # fmt: skip
        found = None if found is None else ([found[0]], found[1], found[2])
    if found is None:
        return None
    fold_votes, y, folds = found
    metric = resolve_metric(spec.metric, y, spec.n_classes, spec.class_names)
    label_model = config.label_model
    params = {"snorkel": {"n_epochs": label_model.n_epochs, "max_fit_rows": label_model.max_fit_rows}}
    return choose_label_model_only(
        fold_votes, folds, y, spec.n_classes, metric=metric, seed=seed,
        candidates=label_model_candidates(label_model.name, label_model.use_valid_labels), params=params,
    )  # fmt: skip


IMAGE_DEMO_OPTIONS = {"image_field": "path", "label_field": "label", "split_field": "split", "group_field": "background", "id_field": None}


def ingest_run_images(root: Storage, data: Any, class_names: Sequence[str], *, seed: int = 0) -> tuple[Any, bool]:
    """Ingest ``data.source`` (an :class:`~alchemist_core.images.pipeline.ImageDataConfig`) under ``<root>/datasets/<digest>``.

    ``demo`` makes the built-in shapes dataset first (a local root only). Returns the
    :class:`~alchemist_core.images.dataset.ImageDataset` and whether it is the demo.
    """
    from alchemist_core.errors import InputError
    from alchemist_core.images.dataset import image_dataset_digest, ingest_images

    source = data.source
    options = {k: getattr(data, k) for k in ("image_field", "label_field", "id_field", "split_field", "group_field")}
    demo = source == "demo"
    if demo:
        from alchemist_core.images.demo import make_shapes_dataset

        if not root.is_local:
            raise InputError("the built-in image demo needs a local storage root; give data.source for s3:// storage")
        source = str(make_shapes_dataset(root.local_path("demo-images"), seed=seed))
        options.update(IMAGE_DEMO_OPTIONS)
    read_options = dict(options, class_names=list(class_names), store=data.store, shard_rows=data.shard_rows)
    digest = image_dataset_digest(source, **read_options)
    return ingest_images(source, root.child("datasets", digest[:16]), **read_options), demo
