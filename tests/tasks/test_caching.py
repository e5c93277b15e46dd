"""Cache keys from content digests, result storage under the storage root, artifact keys."""

from __future__ import annotations

from pathlib import Path

from alchemist_core.config import GeneratorConfig
from alchemist_core.refs import DatasetRef
from tasks.caching import (
    ContentInputs,
    artifact_key,
    content_policy,
    reference_identity,
    result_storage,
)
from tasks.generate import GeneratorSources, files_digest


def _key(policy, **inputs):
    return policy.compute_key(task_ctx=None, inputs=inputs, flow_parameters={})


def test_references_count_by_digest_and_location_only():
    dataset = {"root": "/r/datasets/ab", "digest": "ab" * 32, "manifest": {"source": "/tmp/x.csv", "name": "x"}}
    moved = {**dataset, "manifest": {"source": "/elsewhere/x.csv", "name": "y"}}
    assert reference_identity(dataset) == reference_identity(moved) == {"digest": "ab" * 32, "uri": "/r/datasets/ab"}
    assert reference_identity({"a": [dataset], "b": 1}) == {"a": [{"digest": "ab" * 32, "uri": "/r/datasets/ab"}], "b": 1}
    # Without a digest a mapping is taken whole.
    assert reference_identity({"digest": None, "n": 2}) == {"digest": None, "n": 2}


def test_content_inputs_key_changes_with_content_not_bookkeeping():
    policy = ContentInputs()
    programs = {"uri": "/run/programs", "digest": "1" * 64, "details": {"seconds": 1.5}}
    same = _key(policy, programs=programs, seed=0)
    assert _key(policy, programs={**programs, "details": {"seconds": 9.0}}, seed=0) == same
    assert _key(policy, programs={**programs, "digest": "2" * 64}, seed=0) != same
    assert _key(policy, programs=programs, seed=1) != same
    apply_policy = ContentInputs(exclude=["dask_address"])
    assert _key(apply_policy, batch=[1], dask_address="tcp://127.0.0.1:1") == _key(apply_policy, batch=[1], dask_address="tcp://127.0.0.1:2")
    # Combined with the task's source, and kept apart from Prefect's plain INPUTS.
    assert any(isinstance(p, ContentInputs) for p in content_policy("dask_address").policies)


def test_generator_sources_follow_the_library_content(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "a.py").write_text("def label(x):\n    return 0\n")
    policy = GeneratorSources()
    generator = GeneratorConfig(kind="library", library_path=str(library))
    before = _key(policy, generator=generator)
    assert before == _key(policy, generator=generator)
    (library / "a.py").write_text("def label(x):\n    return 1\n")
    assert _key(policy, generator=generator) != before
    (library / "b.py").write_text("def label(x):\n    return -1\n")
    assert files_digest([str(library)]) == _key(policy, generator=generator)
    assert _key(policy, generator=GeneratorConfig(kind="offline", library_path=str(library))) is None


def test_local_result_storage_lives_under_the_storage_root(tmp_path):
    assert result_storage(str(tmp_path / "runs")) == Path(tmp_path / "runs" / "prefect-results")


def test_artifact_keys_are_lowercase_letters_digits_and_dashes():
    assert artifact_key("Demo_Spec", "label model") == "demo-spec-label-model"
    assert artifact_key("relabel", "sms.v2", "programs") == "relabel-sms-v2-programs"
    assert artifact_key("--", "") == "alchemist"


def test_typed_references_count_by_their_identity(tmp_path):
    from alchemist_core.data.ingest import DatasetManifest, SplitInfo
    from alchemist_core.refs import Splits, VoteSet

    manifest = DatasetManifest(
        name="x", digest="ab" * 32, fields=("text",), splits={"train": SplitInfo(n_rows=3, shards=("s0",), shard_digests=("d0",), has_gold=False, n_gold=0)},
        class_names=None, source="/tmp/x.csv", format="csv",
    )
    dataset = DatasetRef(root="/r/datasets/ab", digest="ab" * 32, manifest=manifest, fields=("text",), splits=Splits())
    moved = dataset.model_copy(update={"manifest": DatasetManifest(**{**manifest.__dict__, "source": "/elsewhere/x.csv"})})
    assert reference_identity(dataset) == reference_identity(moved)
    assert reference_identity(dataset) != reference_identity(dataset.model_copy(update={"fields": ("text", "title")}))
    votes = VoteSet(shards={"train": ("/run/votes/train/s0",)}, programs=("a", "b"), active=("a", "b"), digest="1" * 64)
    slower = votes.model_copy(update={"faults": {"a": {"seconds": 9.0}}, "computed": {"a": 1}})
    policy = ContentInputs()
    assert _key(policy, votes=votes) == _key(policy, votes=slower)
    assert _key(policy, votes=votes) != _key(policy, votes=votes.model_copy(update={"active": ("a",)}))
    # Settings count but where the run executes (storage, Dask) does not.
    from alchemist_core.config import RunConfig

    config = RunConfig()
    assert _key(policy, config=config) == _key(policy, config=config.model_copy(update={"storage": "s3://b/p"}))
    assert _key(policy, config=config) != _key(policy, config=config.model_copy(update={"seed": 1}))
