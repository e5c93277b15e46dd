"""The image pipeline's configuration and stages: concepts, CLIP features, generation, the student.

The stages are plain functions over storage locations, called by the thin Prefect tasks of
``tasks/images.py``; the label-model stages are the text pipeline's own, because the
concept programs' votes have the same shape. One run::

    ingest images -> name concepts -> CLIP features -> write programs -> apply (sandbox, Dask)
        -> label model -> student on CLIP embeddings -> report with per-group metrics

Feature shards mirror the data shards (``features/<split>/shard-00000.parquet`` in the run
folder): ``row_id``, one ``float32`` column per concept score (``"wing_shape:waterbird"``,
the only columns programs see), ``clip`` (the L2-normalised image embedding) and
``zero_shot_p_<k>`` (CLIP zero-shot class probabilities, the baseline).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pydantic import Field

from alchemist_core.config import (
    EXECUTION_ONLY,
    DaskConfig,
    LabelModelConfig,
    LLMConfig,
    SandboxConfig,
    _Section,
)
from alchemist_core.data.storage import Storage
from alchemist_core.digest import combine, digest_json
from alchemist_core.errors import InputError
from alchemist_core.sampling import sample_positions, sample_rows

logger = logging.getLogger(__name__)

FEATURES_FOLDER = "features"
EMBEDDING_COLUMN = "clip"
ZERO_SHOT_PREFIX = "zero_shot_p_"
CONCEPTS_FILE = "concepts.json"
MAX_LABELED_ROWS = 5_000


# -- configuration -------------------------------------------------------------------------------


class ImageDataConfig(_Section):
    """Where the images are and how to read them."""

    source: str = Field("demo", description="Image folder, or CSV/JSONL/Parquet table of image bytes, paths or URLs; 'demo' for the synthetic shapes")
    image_field: str = Field("image", description="Table column with the image bytes, path or URL")
    label_field: str | None = Field("label", description="Gold-label column (for a folder: anything but empty reads class folders)")
    id_field: str | None = Field(None, description="Unique row-id column (tables); file paths or row positions when empty")
    split_field: str | None = Field(None, description="Column naming each row's split (tables); folders train/valid/test otherwise")
    group_field: str | None = Field(None, description="Group attribute column (e.g. Waterbirds' place), for per-group metrics")
    store: Literal["bytes", "uri"] = Field("bytes", description="Keep image bytes in the shards, or only their URIs")
    shard_rows: int = Field(1000, ge=1, description="Images per Parquet shard")
    train_split: str = Field("train", description="Name of the split the programs label and the student learns from")
    valid_split: str = Field("valid", description="Name of the labeled split every choice is made on (out of fold)")
    test_split: str = Field("test", description="Name of the split that is only scored, never chosen on")


class ConceptConfig(_Section):
    """The visual concepts programs reason over."""

    path: str | None = Field(None, description="Concept file (YAML/JSON); when empty the LLM names the concepts (the demo ships its own)")
    n_concepts: int = Field(6, ge=1, le=64, description="Concepts to ask the LLM for")
    subject: str | None = Field(None, description="What the images show ('bird'); the LLM names it when empty")
    max_repairs: int = Field(2, ge=0, description="Times a malformed concept list goes back to the LLM with its error")


class ClipConfig(_Section):
    """The local CLIP model."""

    model: str = Field("alchemist-tiny", description="open_clip architecture, e.g. ViT-B-32, ViT-L-14; alchemist-tiny for tests and the demo")
    pretrained: str | None = Field(None, description="open_clip pretrained tag in the local cache (e.g. openai) or a checkpoint file; empty = random weights")
    cache_dir: str | None = Field(None, description="Where tagged weights are looked for (the Hugging Face cache by default)")
    batch_size: int = Field(64, ge=1, description="Images per CLIP batch")
    device: str | None = Field(None, description="cuda, cpu, or empty for a GPU when present")
    zero_shot_template: str = Field("a photo of a {class_name}", description="Prompt of the zero-shot baseline")


class ImageGeneratorConfig(_Section):
    """Which concept programs to label with."""

    kind: Literal["offline", "openai", "library"] = Field(
        "offline", description="offline: margin programs fitted on the valid split; openai: the LLM writes them; library: a folder of programs"
    )
    n_programs: int = Field(10, ge=1, le=500, description="Concept programs to write")
    library_path: str | None = Field(None, description="Folder of program .py files (kind=library)")
    max_repairs: int = Field(2, ge=0, description="Times a failing program goes back to the LLM with its error before it is rejected")
    sample_rows: int = Field(500, ge=10, description="Training rows used for smoke runs and duplicate detection")


class ImageStudentConfig(_Section):
    """The student distilled on CLIP image embeddings."""

    enabled: bool = Field(True, description="Distil a student on CLIP embeddings (off: stop at the label model)")
    model: Literal["mlp", "logreg"] = Field("mlp", description="The student: an MLP or logistic regression on CLIP embeddings")
    hidden: list[int] = Field(default_factory=lambda: [256], description="Hidden layer sizes of the MLP student")
    epochs: int = Field(30, ge=1, description="Training epochs of the MLP student")
    lr: float = Field(1e-3, gt=0, description="Learning rate of the MLP student")
    batch_size: int = Field(128, ge=1, description="Rows per training batch of the MLP student")
    covered_only: bool = Field(True, description="Train only on rows some program voted on")
    confidence_weighting: bool = Field(True, description="Weight each training row by the label model's confidence")
    device: str | None = Field(None, description="cuda or cpu for the student; a GPU when present if empty")


class ImageRunConfig(_Section):
    """Everything one image run needs; ``kind: images`` tells it from a text run's config."""

    kind: Literal["images"] = Field("images", description="Tells an image run's config from a text run's")
    spec: str = Field("shapes", description="Task spec YAML path, or the name of a shipped spec")
    data: ImageDataConfig = Field(default_factory=ImageDataConfig)
    concepts: ConceptConfig = Field(default_factory=ConceptConfig)
    clip: ClipConfig = Field(default_factory=ClipConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    generator: ImageGeneratorConfig = Field(default_factory=ImageGeneratorConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    label_model: LabelModelConfig = Field(default_factory=LabelModelConfig)
    student: ImageStudentConfig = Field(default_factory=ImageStudentConfig)
    dask: DaskConfig = Field(default_factory=DaskConfig)
    storage: str = Field("./alchemist-runs", description="Artifact root: a local folder or s3://bucket/prefix")
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="Run folder name; derived from the config when empty")
    seed: int = Field(0, description="Seed of every random choice: sampling, folds, LLM sample indices, training")

    @property
    def needs_llm(self) -> bool:
        """Whether the run calls the LLM: concepts without a concept file (and not the demo), or the openai generator."""
        named_by_llm = not self.concepts.path and self.data.source != "demo"
        return named_by_llm or self.generator.kind == "openai"

    @property
    def digest(self) -> str:
        """Digest of everything that changes results (run id, storage root and Dask excluded)."""
        payload = self.model_dump(mode="json", exclude=set(EXECUTION_ONLY))
        return digest_json(payload)


def load_image_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> ImageRunConfig:
    """Read an :class:`ImageRunConfig` from YAML (or defaults) and apply dotted ``overrides`` (``None`` skipped).

    Examples
    --------
    >>> load_image_config(overrides={"clip.model": "ViT-B-32", "seed": 2}).clip.model
    'ViT-B-32'
    """
    from alchemist_core.config import load_config_model

    return load_config_model(ImageRunConfig, path, dict(overrides or {}), what="image run config")


# -- concepts ----------------------------------------------------------------------------------


def name_concepts(
    settings: Mapping[str, Any],
    llm: Mapping[str, Any],
    spec: Any,
    *,
    demo: bool,
    cache: Storage,
    run: Storage,
    seed: int,
) -> dict[str, Any]:
    """Read the concept file, or ask the LLM; write ``concepts.json`` into the run folder.

    Parameters
    ----------
    settings : mapping
        :class:`ConceptConfig` as a dict.
    llm : mapping
        :class:`LLMConfig` as a dict (used only without a concept file).
    spec : TaskSpec
    demo : bool
        The data is the built-in shapes demo: its hand-written concepts are used when no
        file is given.

    Returns
    -------
    dict
        ``uri``, ``digest``, ``source``, ``score_names`` and ``names``: only what determines
        later stages, so that their cache keys do not change when a rerun's reply comes from
        the response cache. The LLM's cost is in the run's ledger.
    """
    from alchemist_core.images.concept_request import request_concepts
    from alchemist_core.images.concepts import (
        load_concept_file,
        parse_concepts,
        save_concepts,
    )

    if settings.get("path"):
        concept_set = load_concept_file(settings["path"], spec.class_names)
    elif demo:
        from alchemist_core.images.demo import SHAPES_CONCEPTS

        concept_set = parse_concepts(SHAPES_CONCEPTS, spec.class_names, source="demo")
    else:
        from alchemist_core.llm.setup import build_llm_client

        client = build_llm_client(llm, cache=cache, ledger_storage=run, capped=True)
        result = request_concepts(
            client, spec, n_concepts=settings["n_concepts"], subject=settings.get("subject"), seed=seed,
            max_repairs=settings["max_repairs"], refresh=llm.get("refresh", False),
        )  # fmt: skip
        concept_set = result.concept_set
        logger.info(
            "concepts from %s in %d call(s), %d repair(s), $%.4f", llm["model"], len(result.completions),
            result.n_repairs, sum(c.dollars for c in result.completions),
        )  # fmt: skip
    uri = save_concepts(concept_set, run, CONCEPTS_FILE)
    return {
        "uri": uri,
        "digest": concept_set.digest,
        "source": concept_set.source,
        "score_names": concept_set.score_names,
        "names": [c.name for c in concept_set.concepts],
    }


# -- features ----------------------------------------------------------------------------------


def clip_spec_from_settings(settings: Mapping[str, Any], seed: int) -> Any:
    """The :class:`~alchemist_core.images.clip.ClipModelSpec` of :class:`ClipConfig` (as a dict)."""
    from alchemist_core.images.clip import ClipModelSpec

    return ClipModelSpec(settings["model"], settings.get("pretrained"), settings.get("cache_dir"), seed)


def feature_table(
    row_ids: Sequence[str], embeddings: np.ndarray, scores: np.ndarray, score_names: Sequence[str], zero_shot: np.ndarray
) -> pa.Table:
    """One feature shard: ``row_id``, the concept scores, ``clip`` and ``zero_shot_p_<k>``."""
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)  # (n_rows, dim)
    columns: dict[str, Any] = {"row_id": pa.array(row_ids, type=pa.string())}
    for j, name in enumerate(score_names):
        columns[name] = pa.array(scores[:, j].astype(np.float32))
    columns[EMBEDDING_COLUMN] = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.ravel()), embeddings.shape[1])
    for k in range(zero_shot.shape[1]):
        columns[f"{ZERO_SHOT_PREFIX}{k}"] = pa.array(zero_shot[:, k].astype(np.float32))
    return pa.table(columns)


def write_image_features(
    dataset: Any,
    data: Storage,
    concept_set: Any,
    clip: Mapping[str, Any],
    *,
    out: Storage,
    cache: Storage | None,
    seed: int,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the feature shard of every data shard, shard by shard, with cached image embeddings.

    Parameters
    ----------
    dataset : ImageDataset
    data : Storage
        The dataset folder.
    concept_set : ConceptSet
    clip : mapping
        :class:`ClipConfig` as a dict.
    out : Storage
        Where ``features/<split>/shard-*.parquet`` go (the run folder).
    cache : Storage or None
        Image-embedding cache (``<root>/cache/clip``); ``None`` computes everything.
    seed : int
        Seeds random CLIP weights (no pretrained weights given).

    Returns
    -------
    dict
        ``digest`` (of everything the features depend on: the images, the concepts, the CLIP
        identity and the zero-shot prompt), ``shards`` (split -> feature shard paths under
        ``out``), ``shard_digests`` (split -> one content digest per feature shard),
        ``score_names``, ``model`` (the CLIP identity), ``embedding_dim``, ``logit_scale``,
        ``n_rows``, ``cache_hits`` and ``device``.
    """
    from alchemist_core.images.clip import (
        concept_scores,
        embed_images_with_cache,
        load_clip,
        zero_shot_proba,
        zero_shot_prompts,
    )
    from alchemist_core.images.dataset import load_images
    from alchemist_core.students.features import EmbeddingCache

    started = time.perf_counter()
    encoder = load_clip(clip_spec_from_settings(clip, seed), device=clip.get("device"))
    prompt_embeddings = encoder.encode_texts(concept_set.prompts)  # (n_scores, dim)
    class_names = list(dataset.manifest.class_names or concept_set.class_names)
    class_embeddings = encoder.encode_texts(zero_shot_prompts(class_names, clip["zero_shot_template"]))
    embedding_cache = EmbeddingCache(cache, dtype="float32") if cache is not None else None
    by_uri = dataset.info.image_column == "uri"
    digest = combine("image-features", dataset.manifest.digest, concept_set.digest, encoder.identity, clip["zero_shot_template"])
    shards: dict[str, list[str]] = {}
    shard_digests: dict[str, list[str]] = {}
    n_rows = 0
    hits = 0
    for split, info in dataset.manifest.splits.items():
        shards[split], shard_digests[split] = [], []
        for shard, shard_digest in zip(info.shards, info.shard_digests):
            row_ids = data.read_table(shard, columns=["row_id"]).column("row_id").to_pylist()
            # A shard of URIs does not hold the pixels: the dataset digest (over every image's bytes) does.
            content = combine(shard_digest, dataset.manifest.digest) if by_uri else shard_digest
            embeddings, hit = embed_images_with_cache(
                encoder, lambda shard=shard: load_images(data.read_table(shard), storage_options), content,
                embedding_cache, batch_size=clip["batch_size"],
            )  # fmt: skip
            hits += hit
            scores = concept_scores(embeddings, prompt_embeddings, concept_set.n_classes, encoder.logit_scale)
            zero_shot = zero_shot_proba(embeddings, class_embeddings, encoder.logit_scale)
            name = shard.rsplit("/", 1)[-1]
            features = feature_table(row_ids, embeddings, scores, concept_set.score_names, zero_shot)
            out.write_table(features, FEATURES_FOLDER, split, name)
            shards[split].append(f"{FEATURES_FOLDER}/{split}/{name}")
            shard_digests[split].append(combine(digest, shard_digest))
            n_rows += len(row_ids)
    logger.info(
        "CLIP features of %d images (%d concept scores, %d-dim embeddings, %d cached shards) in %.1f s",
        n_rows, len(concept_set.score_names), encoder.embedding_dim, hits, time.perf_counter() - started,
    )  # fmt: skip
    return {
        "digest": digest,
        "shards": shards,
        "shard_digests": shard_digests,
        "score_names": concept_set.score_names,
        "model": encoder.identity,
        "embedding_dim": encoder.embedding_dim,
        "logit_scale": encoder.logit_scale,
        "n_rows": n_rows,
        "cache_hits": hits,
        "device": encoder.device,
    }


def read_features(features: Storage, shards: Sequence[str], columns: Sequence[str]) -> pa.Table:
    """The named columns (plus ``row_id``) of several feature shards, concatenated in order."""
    wanted = ["row_id", *[c for c in columns if c != "row_id"]]
    return pa.concat_tables([features.read_table(shard, columns=wanted) for shard in shards])


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The ``clip`` column of a feature table as ``float32`` ``(n_rows, dim)``."""
    column = table.column(EMBEDDING_COLUMN).combine_chunks()
    width = column.type.list_size
    # A copy: Arrow's zero-copy view is read-only, and torch warns about (and may write to) it.
    return np.array(column.flatten().to_numpy(), dtype=np.float32).reshape(len(column), width)


# -- programs ----------------------------------------------------------------------------------


def concept_generation_context(
    spec: Any,
    features: Storage,
    shards: Mapping[str, Sequence[str]],
    data: Storage,
    score_names: Sequence[str],
    *,
    n_programs: int,
    n_sample: int,
    seed: int,
    train_split: str,
    valid_split: str,
    valid_rows: Sequence[str] | None = None,
) -> Any:
    """Score rows a generator may see: a sample of ``train`` and the labeled ``valid`` rows, never ``test``.

    ``valid_rows`` (row ids) narrows the labeled rows to those, as the out-of-fold choices do
    for each fold's programs.
    """
    from alchemist_core.data.ingest import read_gold
    from alchemist_core.generators.base import GenerationContext

    if train_split not in shards:
        raise InputError(f"expected a {train_split!r} split to sample from; the dataset has {sorted(shards)}")
    rng = np.random.default_rng(seed)
    train = read_features(features, shards[train_split], score_names).to_pylist()
    keep = sample_positions(len(train), min(n_sample, len(train)), rng)
    sample = [{name: train[i][name] for name in score_names} for i in keep]
    labeled: list[tuple[dict[str, Any], int]] = []
    if valid_split in shards:
        rows = read_features(features, shards[valid_split], score_names).to_pylist()
        row_ids, gold = read_gold(data, valid_split)
        by_id = dict(zip(row_ids.tolist(), gold.tolist()))
        allowed = None if valid_rows is None else set(valid_rows)
        for row in rows:
            if allowed is not None and row["row_id"] not in allowed:
                continue
            label = by_id.get(row["row_id"], -1)
            if label >= 0:
                labeled.append(({name: row[name] for name in score_names}, int(label)))
        if len(labeled) > MAX_LABELED_ROWS:
            picked = sample_positions(len(labeled), MAX_LABELED_ROWS, rng)
            labeled = [labeled[i] for i in picked]
    return GenerationContext(
        spec=spec, sample_rows=sample, labeled_rows=labeled, n_programs=n_programs, seed=seed, n_valid_rows=len(labeled)
    )


def concept_fold_votes(
    program_generator: Any,
    spec: Any,
    features: Storage,
    shards: Mapping[str, Sequence[str]],
    data: Storage,
    score_names: Sequence[str],
    *,
    n_programs: int,
    n_sample: int,
    seed: int,
    train_split: str,
    valid_split: str,
    max_train_rows: int,
    n_folds: int,
    limits: Any,
) -> tuple[list[Any], np.ndarray, Any] | None:
    """Concept programs generated once per fold of the labeled valid rows, without that fold, and their votes.

    For a generator that fits its programs to labeled rows (``offline``): fold ``k``'s programs
    see the other folds' labeled rows only, and vote on a seeded sample of at most
    ``max_train_rows`` training rows and on every labeled valid row, so the label model's
    out-of-fold choice scores no program on a row it was fitted to. Returns one
    :class:`~alchemist_core.selection.FoldVotes` per fold, the gold labels and the folds;
    ``None`` with fewer than :data:`~alchemist_core.selection.MIN_LABELED_ROWS` labeled rows.
    """
    from alchemist_core.data.ingest import read_gold
    from alchemist_core.programs.apply import label_partition
    from alchemist_core.selection import MIN_LABELED_ROWS, FoldVotes, make_folds

    if valid_split not in shards:
        return None
    valid = read_features(features, shards[valid_split], score_names)
    gold_ids, gold = read_gold(data, valid_split)
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    valid_ids = np.asarray(valid.column("row_id").to_pylist(), dtype=object)
    y_all = np.asarray([lookup.get(r, -1) for r in valid_ids.tolist()], dtype=np.int64)
    labeled = np.flatnonzero(y_all >= 0)
    if len(labeled) < MIN_LABELED_ROWS:
        return None
    y = y_all[labeled]
    folds = make_folds(y, n_folds=n_folds, seed=seed)
    train = read_features(features, shards[train_split], score_names)
    rows = sample_rows(train.num_rows, max_train_rows, seed)
    if rows is not None:
        train = train.take(pa.array(rows))
    frames = {"train": train.select(list(score_names)).to_pandas(), "valid": valid.take(pa.array(labeled)).select(list(score_names)).to_pandas()}
    fold_votes = []
    for k in range(folds.n_folds):
        context = concept_generation_context(
            spec, features, shards, data, score_names, n_programs=n_programs, n_sample=n_sample, seed=seed,
            train_split=train_split, valid_split=valid_split, valid_rows=valid_ids[labeled][folds.labeled(k)].tolist(),
        )  # fmt: skip
        program_set = program_generator.generate(context).program_set
        L = {
            split: label_partition(frame, program_set, spec.n_classes, fields=list(score_names), limits=limits).L
            for split, frame in frames.items()
        }
        fold_votes.append(FoldVotes(tuple(program_set.names), L["train"], L["valid"]))
    logger.info("concept programs regenerated once per fold (%d folds), each without its fold's labeled rows", folds.n_folds)
    return fold_votes, y, folds


def build_concept_generator(
    settings: Mapping[str, Any], llm: Mapping[str, Any], concept_set: Any, *, cache: Storage, ledger_storage: Storage, limits: Any
) -> Any:
    """The generator named by :class:`ImageGeneratorConfig` (as a dict)."""
    kind = settings["kind"]
    if kind == "offline":
        from alchemist_core.generators.concept_programs import ConceptThresholdGenerator

        return ConceptThresholdGenerator(concept_set, limits=limits)
    if kind == "openai":
        from alchemist_core.generators.concept_programs import ConceptLLMGenerator
        from alchemist_core.llm.setup import build_llm_client

        client = build_llm_client(llm, cache=cache, ledger_storage=ledger_storage, capped=True)
        return ConceptLLMGenerator(client, concept_set, max_repairs=settings["max_repairs"], limits=limits, refresh=llm.get("refresh", False))
    if kind == "library":
        from alchemist_core.generators.library import LibraryGenerator

        if not settings.get("library_path"):
            raise InputError("generator kind 'library' needs library_path, a folder of concept program .py files")
        return LibraryGenerator(settings["library_path"])
    raise InputError(f"unknown image generator kind {kind!r}; expected offline, openai or library")


# -- the student -------------------------------------------------------------------------------


def distill_image_student(
    *,
    pseudolabels: Mapping[str, Sequence[str]],
    features: Storage,
    shards: Mapping[str, Sequence[str]],
    data: Storage,
    settings: Mapping[str, Any],
    splits: Mapping[str, str],
    run: Storage,
    seed: int,
    clip_identity: str,
) -> dict[str, Any]:
    """Fit the student on the training split's pseudolabels over CLIP embeddings; predict every split.

    The valid split's gold labels (when any) drive early stopping; the test split is only
    predicted.

    Returns
    -------
    dict
        ``uri`` (the student folder), ``predictions`` (split -> Parquet URI), ``n_train_rows``, ``device``.
    """
    from alchemist_core.data.ingest import read_gold
    from alchemist_core.labelmodel.pseudolabels import table_posterior
    from alchemist_core.students.base import StudentHyperparameters
    from alchemist_core.students.registry import make_student

    train = splits["train"]
    if train not in pseudolabels or train not in shards:
        raise InputError(f"expected pseudolabels and features for the training split {train!r}; have {sorted(pseudolabels)}")
    tables = {split: read_features(features, split_shards, [EMBEDDING_COLUMN]) for split, split_shards in shards.items()}
    X = {split: embedding_matrix(table) for split, table in tables.items()}
    pseudo = pa.concat_tables([Storage(uri).read_table() for uri in pseudolabels[train]])
    if pseudo.column("row_id").to_pylist() != tables[train].column("row_id").to_pylist():
        raise InputError("pseudolabels and features of the training split are not aligned; rerun the label stage")
    posterior = table_posterior(pseudo)
    covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
    keep = covered if settings["covered_only"] else np.ones(len(covered), dtype=bool)
    if not keep.any():
        raise InputError("no training image is covered by any program, so there is nothing to distil")
    X_valid = y_valid = None
    valid = splits.get("valid")
    if valid in X:
        _, gold = read_gold(data, valid)
        if (gold >= 0).any():
            X_valid, y_valid = X[valid][gold >= 0], gold[gold >= 0]
    config = StudentHyperparameters(
        hidden=tuple(settings["hidden"]), lr=settings["lr"], epochs=settings["epochs"], batch_size=settings["batch_size"],
        confidence_weighting=settings["confidence_weighting"], covered_only=settings["covered_only"], device=settings.get("device"),
    )  # fmt: skip
    student = make_student(settings["model"], config, seed=seed)
    student.fit(X[train][keep], posterior[keep], X_valid=X_valid, y_valid=y_valid)
    student.save(run, "student")
    run.write_json({"model": settings["model"], "features": "clip", "clip": clip_identity}, "student", "student.json")
    predictions = {}
    for split, matrix in X.items():
        proba = student.predict_proba(matrix)
        table = pa.table({"row_id": tables[split].column("row_id"), "label": pa.array(proba.argmax(axis=1))})
        for k in range(proba.shape[1]):
            table = table.append_column(f"p_{k}", pa.array(proba[:, k].astype(np.float32)))
        predictions[split] = run.write_table(table, "student", "predictions", f"{split}.parquet")
    return {
        "uri": run.uri("student"),
        "predictions": predictions,
        "n_train_rows": int(keep.sum()),
        "device": str(getattr(student, "device_", "cpu")),
    }
