import numpy as np
import pyarrow as pa
import pytest

from alchemist_core.data.ingest import read_gold
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.images.concepts import parse_concepts
from alchemist_core.images.dataset import ingest_images
from alchemist_core.images.demo import (
    SHAPES_CLASSES,
    SHAPES_CONCEPTS,
    make_shapes_dataset,
)
from alchemist_core.images.pipeline import (
    EMBEDDING_COLUMN,
    ImageRunConfig,
    concept_generation_context,
    distill_image_student,
    embedding_matrix,
    load_image_config,
    read_features,
    write_image_features,
)
from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
from alchemist_core.programs.sandbox import SandboxLimits

CLIP = {"model": "alchemist-tiny", "pretrained": None, "cache_dir": None, "batch_size": 16, "device": "cpu",
        "zero_shot_template": "a photo of a {class_name}"}  # fmt: skip
FAST = SandboxLimits(program_seconds=5.0)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    metadata = make_shapes_dataset(root / "src", n_train=24, n_valid=12, n_test=12, seed=0)
    data = Storage(str(root / "ds"))
    dataset = ingest_images(
        str(metadata), data, image_field="path", split_field="split", group_field="background",
        class_names=list(SHAPES_CLASSES), shard_rows=10,
    )  # fmt: skip
    return root, dataset, data, parse_concepts(SHAPES_CONCEPTS, SHAPES_CLASSES, source="demo")


def test_feature_shards_mirror_the_data_shards_and_are_cached(shapes, tmp_path):
    root, dataset, data, concepts = shapes
    cache = Storage(str(tmp_path / "cache"))
    run = Storage(str(tmp_path / "run"))
    result = write_image_features(dataset, data, concepts, CLIP, out=run, cache=cache, seed=0)
    assert {s: len(v) for s, v in result["shards"].items()} == {"train": 3, "valid": 2, "test": 2}
    assert result["n_rows"] == 48 and result["cache_hits"] == 0 and result["embedding_dim"] == 64
    table = read_features(run, result["shards"]["train"], [*concepts.score_names, EMBEDDING_COLUMN, "zero_shot_p_0", "zero_shot_p_1"])
    assert table.column("row_id").to_pylist() == read_gold(data, "train")[0].tolist()
    scores = np.column_stack([table.column(n).to_numpy() for n in concepts.score_names]).reshape(-1, 3, 2)
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores.sum(axis=2), 1.0, atol=1e-5)
    zero_shot = np.column_stack([table.column(f"zero_shot_p_{k}").to_numpy() for k in range(2)])
    np.testing.assert_allclose(zero_shot.sum(axis=1), 1.0, atol=1e-5)
    E = embedding_matrix(table)
    assert E.shape == (24, 64)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)

    again = write_image_features(dataset, data, concepts, CLIP, out=Storage(str(tmp_path / "run2")), cache=cache, seed=0)
    assert again["cache_hits"] == 7
    assert read_features(Storage(str(tmp_path / "run2")), again["shards"]["train"], concepts.score_names).equals(
        read_features(run, result["shards"]["train"], concepts.score_names)
    )
    other_seed = write_image_features(dataset, data, concepts, CLIP, out=Storage(str(tmp_path / "run3")), cache=cache, seed=1)
    assert other_seed["cache_hits"] == 0 and other_seed["model"] != result["model"]


def test_generators_see_train_samples_and_labeled_valid_rows_only(shapes, tmp_path):
    root, dataset, data, concepts = shapes
    run = Storage(str(tmp_path / "run"))
    features = write_image_features(dataset, data, concepts, CLIP, out=run, cache=None, seed=0)
    from alchemist_core.spec import load_spec

    context = concept_generation_context(
        load_spec("shapes"), run, features["shards"], data, concepts.score_names, n_programs=4, n_sample=10,
        seed=0, train_split="train", valid_split="valid",
    )  # fmt: skip
    assert len(context.sample_rows) == 10 and len(context.labeled_rows) == 12
    assert set(context.sample_rows[0]) == set(concepts.score_names)
    assert sorted({label for _, label in context.labeled_rows}) == [0, 1]


def test_concept_programs_are_fitted_once_per_fold_without_that_fold(shapes, tmp_path):
    from alchemist_core.generators.concept_programs import ConceptThresholdGenerator
    from alchemist_core.images.pipeline import concept_fold_votes
    from alchemist_core.spec import load_spec

    root, dataset, data, concepts = shapes
    run = Storage(str(tmp_path / "run"))
    features = write_image_features(dataset, data, concepts, CLIP, out=run, cache=None, seed=0)
    seen: list[int] = []

    class Recording(ConceptThresholdGenerator):
        def generate(self, context):
            seen.append(len(context.labeled_rows))
            return super().generate(context)

    # Narrowing the labeled rows to some valid row ids.
    valid_ids = read_gold(data, "valid")[0].tolist()
    narrowed = concept_generation_context(
        load_spec("shapes"), run, features["shards"], data, concepts.score_names, n_programs=4, n_sample=10,
        seed=0, train_split="train", valid_split="valid", valid_rows=valid_ids[:5],
    )  # fmt: skip
    assert len(narrowed.labeled_rows) == 5
    found = concept_fold_votes(
        Recording(concepts), load_spec("shapes"), run, features["shards"], data, concepts.score_names, n_programs=4,
        n_sample=10, seed=0, train_split="train", valid_split="valid", max_train_rows=20, n_folds=3, limits=FAST,
    )  # fmt: skip
    fold_votes, y, folds = found
    assert folds.n_folds == 3 and len(fold_votes) == 3 and len(y) == 12
    # Each fold's programs saw the other folds' labeled rows only, and voted on every labeled row.
    assert seen == [int(folds.labeled(k).sum()) for k in range(3)] and all(n < 12 for n in seen)
    for votes in fold_votes:
        assert votes.L_valid.shape == (12, len(votes.names)) and votes.L_train.shape == (20, len(votes.names))


def test_the_student_learns_from_pseudolabels_over_embeddings(shapes, tmp_path):
    root, dataset, data, concepts = shapes
    run = Storage(str(tmp_path / "run"))
    features = write_image_features(dataset, data, concepts, CLIP, out=run, cache=None, seed=0)
    labels = {}
    for split, shards in features["shards"].items():
        row_ids, gold = read_gold(data, split)
        L = gold.reshape(-1, 1).astype(np.int8)  # a perfect "program"
        posterior = np.eye(2)[gold]
        labels[split] = [run.write_table(pseudolabel_table(row_ids, posterior, L), "labels", split, "shard-00000.parquet")]
    settings = {"model": "logreg", "hidden": [8], "lr": 0.01, "epochs": 5, "batch_size": 16, "covered_only": True,
                "confidence_weighting": True, "device": "cpu"}  # fmt: skip
    result = distill_image_student(
        pseudolabels=labels, features=run, shards=features["shards"], data=data, settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, run=run, seed=0, clip_identity=features["model"],
    )  # fmt: skip
    assert result["n_train_rows"] == 24
    predictions = Storage(result["predictions"]["train"]).read_table()
    assert predictions.column("row_id").to_pylist() == read_gold(data, "train")[0].tolist()
    assert run.read_json("student", "student.json")["clip"] == features["model"]
    # Misaligned pseudolabels are refused, not silently zipped.
    shuffled = {**labels, "train": [run.write_table(pa.table({"row_id": ["x"]}), "bad.parquet")]}
    with pytest.raises(InputError, match="not aligned"):
        distill_image_student(
            pseudolabels=shuffled, features=run, shards=features["shards"], data=data, settings=settings,
            splits={"train": "train", "valid": "valid", "test": "test"}, run=run, seed=0, clip_identity="x",
        )  # fmt: skip


def test_the_image_config_loads_overrides_and_rejects_mistakes(tmp_path):
    config = load_image_config(overrides={"clip.model": "ViT-B-32", "clip.pretrained": "openai", "data.source": "/data", "seed": None})
    assert isinstance(config, ImageRunConfig) and config.kind == "images" and config.seed == 0
    assert config.digest != load_image_config().digest
    assert load_image_config(overrides={"storage": "/elsewhere", "run_id": "x"}).digest == load_image_config().digest
    (tmp_path / "run.yaml").write_text("kind: images\nspec: shapes\ngenerator:\n  kind: openai\n  n_programs: 3\n")
    assert load_image_config(tmp_path / "run.yaml").generator.n_programs == 3
    with pytest.raises(InputError, match="generator.kind"):
        load_image_config(overrides={"generator.kind": "magic"})
    with pytest.raises(InputError, match="kind"):
        load_image_config(overrides={"kind": "text"})
