"""Cache keys from content digests, result storage under the storage root, artifact keys."""

from __future__ import annotations

from pathlib import Path

from tasks.caching import ContentInputs, artifact_key, content_policy, reference_identity, result_storage
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
    generator = {"kind": "library", "library_path": str(library)}
    before = _key(policy, generator=generator)
    assert before == _key(policy, generator=generator)
    (library / "a.py").write_text("def label(x):\n    return 1\n")
    assert _key(policy, generator=generator) != before
    (library / "b.py").write_text("def label(x):\n    return -1\n")
    assert files_digest([str(library)]) == _key(policy, generator=generator)
    assert _key(policy, generator={"kind": "offline", "library_path": str(library)}) is None


def test_local_result_storage_lives_under_the_storage_root(tmp_path):
    assert result_storage(str(tmp_path / "runs")) == Path(tmp_path / "runs" / "prefect-results")


def test_artifact_keys_are_lowercase_letters_digits_and_dashes():
    assert artifact_key("Demo_Spec", "label model") == "demo-spec-label-model"
    assert artifact_key("relabel", "sms.v2", "programs") == "relabel-sms-v2-programs"
    assert artifact_key("--", "") == "alchemist"
