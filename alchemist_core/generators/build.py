"""Building a generator from the run config, and what it may see of the data."""

from __future__ import annotations

from typing import Any, Collection, Mapping

import numpy as np

from alchemist_core.data.ingest import DatasetManifest, read_gold
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.generators.base import GenerationContext, ProgramGenerator
from alchemist_core.programs.sandbox import SandboxLimits
from alchemist_core.sampling import sample_positions
from alchemist_core.spec import TaskSpec

# Labeled rows a generator may see at most (from the valid split, never the test split).
MAX_LABELED_ROWS = 5_000


def build_generator(
    settings: Mapping[str, Any], *, cache: Storage, ledger_storage: Storage, limits: SandboxLimits
) -> ProgramGenerator:
    """The generator named by ``settings["kind"]`` (a ``GeneratorConfig`` as a dict)."""
    kind = settings["kind"]
    if kind == "offline":
        from alchemist_core.generators.offline import OfflineGenerator
        from alchemist_core.students.features import embed_with_cache

        # The embeddings cache the pipeline's own ``x["minilm"]`` comes from: the prototypes are
        # built from the same vectors the programs will read, and a rerun (one per fold of the
        # out-of-fold choices) embeds nothing twice.
        embeddings = cache.child("embeddings")
        return OfflineGenerator(limits=limits, encoder=lambda texts: embed_with_cache(texts, embeddings))
    if kind == "library":
        from alchemist_core.generators.library import LibraryGenerator

        if not settings.get("library_path"):
            raise InputError("generator kind 'library' needs library_path (--library FOLDER), a folder of program .py files")
        return LibraryGenerator(settings["library_path"])
    if kind == "openai":
        from alchemist_core.generators.openai import OpenAIGenerator
        from alchemist_core.generators.retrieval import load_documents
        from alchemist_core.llm.setup import build_llm_client

        llm = settings["openai"]
        return OpenAIGenerator(
            build_llm_client(llm, cache=cache, ledger_storage=ledger_storage, capped=True),
            code_model=llm["model"],
            supplement_model=llm["supplement_model"] or llm["model"],
            supplement_kinds=llm["supplement_kinds"],
            documents=load_documents(llm["documents"]) if llm["documents"] else (),
            max_repairs=llm["max_repairs"],
            limits=limits,
            refresh=llm["refresh"],
            temperatures=llm["temperatures"],
            resample_rounds=llm["resample_rounds"],
        )
    raise InputError(f"unknown generator kind {kind!r}; expected offline, library or openai")


def _sample_indices(n_rows: int, n_sample: int, rng: np.random.Generator) -> np.ndarray:
    if n_rows <= n_sample:
        return np.arange(n_rows)
    return sample_positions(n_rows, n_sample, rng)


def _split_rows(data: Storage, shards, fields, n_sample: int, rng: np.random.Generator):
    # Reads at most a few shards spread over the split, so sampling stays cheap on big data.
    picked = list(shards)
    if len(picked) > 4:
        picked = [picked[i] for i in np.linspace(0, len(picked) - 1, 4).round().astype(int)]
    tables = [data.read_table(shard, columns=["row_id", *fields]) for shard in picked]
    rows = [row for table in tables for row in table.to_pylist()]
    keep = _sample_indices(len(rows), n_sample, rng)
    return [rows[i] for i in keep]


def generation_context(
    spec: TaskSpec,
    manifest: DatasetManifest,
    data: Storage,
    *,
    fields: list[str],
    n_programs: int,
    n_sample: int,
    seed: int,
    train_split: str = "train",
    valid_split: str = "valid",
    valid_rows: Collection[str] | None = None,
) -> GenerationContext:
    """Sample unlabeled rows of the training split and collect the labeled valid rows.

    ``valid_rows`` (row ids) narrows the labeled rows to those, so that a generator that
    learns from labeled rows can be rerun without one fold of the valid split (see
    :mod:`alchemist_core.selection`). The test split is never read. Rows carry only the
    input fields.
    """
    rng = np.random.default_rng(seed)
    if train_split not in manifest.splits:
        raise InputError(f"expected a {train_split!r} split to sample from; the dataset has {sorted(manifest.splits)}")
    sample = [
        {f: row[f] for f in fields}
        for row in _split_rows(data, manifest.splits[train_split].shards, fields, n_sample, rng)
    ]
    labeled: list[tuple[dict[str, Any], int]] = []
    if valid_split in manifest.splits and manifest.splits[valid_split].has_gold:
        row_ids, gold = read_gold(data, valid_split)
        by_id = dict(zip(row_ids.tolist(), gold.tolist()))
        allowed = None if valid_rows is None else set(valid_rows)
        for row in _split_rows(data, manifest.splits[valid_split].shards, fields, MAX_LABELED_ROWS, rng):
            label = by_id.get(row["row_id"], -1)
            if label >= 0 and (allowed is None or row["row_id"] in allowed):
                labeled.append(({f: row[f] for f in fields}, int(label)))
    n_valid_rows = len(labeled)
    for example in spec.examples:
        labeled.append((dict(example.fields), spec.class_index(example.label)))
    return GenerationContext(
        spec=spec, sample_rows=sample, labeled_rows=labeled, n_programs=n_programs, seed=seed, n_valid_rows=n_valid_rows
    )
