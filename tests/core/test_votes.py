"""Vote shards and the per-(shard, program) vote cache."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from alchemist_core.data.ingest import ingest_dataset
from alchemist_core.data.storage import open_storage
from alchemist_core.programs.program_set import (
    LabelingProgram,
    ProgramSet,
    save_program_set,
)
from alchemist_core.programs.vote_shards import read_label_matrix
from alchemist_core.programs.votes import apply_shard

PAID = "def label(x):\n    return 0 if 'refund' in x['text'] else -1\n"
BROKEN = "def label(x):\n    return 1 if 'crash' in x['text'] else -1\n"


@pytest.fixture
def shard(tmp_path):
    source = tmp_path / "tickets.csv"
    source.write_text("text\nrefund please\napp crash on start\nhello\n")
    data = open_storage(str(tmp_path / "data"))
    manifest = ingest_dataset(str(source), data, fields=["text"], label_field=None)
    info = manifest.splits["train"]
    return data, info.shards[0], info.shard_digests[0]


def _apply(tmp_path, shard, programs, *, code="v1", name="votes.parquet"):
    data, path, digest = shard
    run = open_storage(str(tmp_path / "run"))
    uri = save_program_set(ProgramSet(tuple(programs)), run, "programs")
    return apply_shard(
        data.root, path, uri, run.uri(name), n_classes=2, fields=["text"], program_seconds=5.0, memory_mb=512,
        cache_root=str(tmp_path / "cache"), shard_digest=digest, code=code,
    )  # fmt: skip


def test_only_programs_without_cached_votes_run(tmp_path, shard):
    paid, broken = LabelingProgram("paid", PAID), LabelingProgram("broken", BROKEN)
    first = _apply(tmp_path, shard, [paid, broken])
    assert first["computed"] == ["paid", "broken"]
    _, L, names = read_label_matrix([first["uri"]])
    assert names == ["paid", "broken"] and L.tolist() == [[0, -1], [-1, 1], [-1, -1]]

    again = _apply(tmp_path, shard, [paid, broken])
    assert again["computed"] == [] and again["digest"] == first["digest"]
    assert again["faults"] == first["faults"]

    edited = LabelingProgram("broken", BROKEN.replace("crash", "hello"))
    changed = _apply(tmp_path, shard, [paid, edited])
    assert changed["computed"] == ["broken"] and changed["digest"] != first["digest"]
    assert read_label_matrix([changed["uri"]])[1].tolist() == [[0, -1], [-1, -1], [-1, 1]]

    # New core code that runs programs: every program runs again.
    assert _apply(tmp_path, shard, [paid, edited], code="v2")["computed"] == ["paid", "broken"]


def test_without_a_shard_digest_nothing_is_cached(tmp_path, shard):
    data, path, _ = shard
    run = open_storage(str(tmp_path / "run"))
    uri = save_program_set(ProgramSet((LabelingProgram("paid", PAID),)), run, "programs")
    result = apply_shard(data.root, path, uri, run.uri("v.parquet"), n_classes=2, fields=["text"], program_seconds=5.0,
                         memory_mb=512, cache_root=str(tmp_path / "cache"))  # fmt: skip
    assert result["computed"] == ["paid"] and not (tmp_path / "cache" / "votes").exists()
    assert isinstance(open_storage(result["uri"]).read_table(), pa.Table)


def _vote_shards(tmp_path, n_shards=4, n_rows=250, n_programs=5, seed=0):
    from alchemist_core.data.storage import open_storage
    from alchemist_core.programs.vote_shards import votes_table

    rng = np.random.default_rng(seed)
    store = open_storage(str(tmp_path / "votes"))
    names = [f"p{j}" for j in range(n_programs)]
    uris = []
    for k in range(n_shards):
        L = rng.integers(-1, 3, size=(n_rows + k, n_programs))
        uris.append(store.write_table(votes_table([f"{k}-{i}" for i in range(len(L))], L, names), f"shard-{k}.parquet"))
    return uris, names


def test_a_sampled_label_matrix_is_the_same_draw_as_the_whole_one(tmp_path):
    from alchemist_core.programs.vote_shards import (
        read_label_matrix,
        sample_label_matrix,
    )
    from alchemist_core.sampling import sample_rows

    uris, names = _vote_shards(tmp_path)
    _, L_all, _ = read_label_matrix(uris, names)
    L, n_rows = sample_label_matrix(uris, names, max_rows=300, seed=7)
    assert n_rows == len(L_all) == 1006
    assert np.array_equal(L, L_all[sample_rows(n_rows, 300, 7)])
    # Under the cap every row comes back, in order.
    L, n_rows = sample_label_matrix(uris, names, max_rows=5000, seed=7)
    assert np.array_equal(L, L_all) and n_rows == 1006


def test_snorkel_fitted_on_the_sampled_read_equals_snorkel_fitted_on_every_row(tmp_path):
    from alchemist_core.labelmodel.aggregate import make_label_model
    from alchemist_core.programs.vote_shards import (
        read_label_matrix,
        sample_label_matrix,
    )

    uris, names = _vote_shards(tmp_path, seed=1)
    _, L_all, _ = read_label_matrix(uris, names)
    L_sample, _ = sample_label_matrix(uris, names, max_rows=400, seed=3)
    whole = make_label_model("snorkel", 3, seed=3, n_epochs=50, max_fit_rows=400).fit(L_all)
    sampled = make_label_model("snorkel", 3, seed=3, n_epochs=50, max_fit_rows=400).fit(L_sample)
    assert np.array_equal(whole.predict_proba(L_all), sampled.predict_proba(L_all))
