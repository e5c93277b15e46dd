"""Vote shards: apply a program set to one data shard and store, read and combine the votes.

Each vote shard is aligned with its data shard: a ``row_id`` column, then one int8 column per
program (``ABSTAIN = -1``). The functions here are what a Dask worker runs: each worker reads
its own data shard from storage and writes its own vote shard, so no rows travel through the
scheduler.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.programs import ABSTAIN, load_program_set
from alchemist_core.storage import Storage


def votes_table(row_ids: Sequence[str] | pa.Array, L: np.ndarray, names: Sequence[str]) -> pa.Table:
    """A vote shard: ``row_id`` plus one int8 column per program."""
    L = np.asarray(L, dtype=np.int8)  # (n_rows, n_programs)
    if L.ndim != 2 or L.shape[1] != len(names):
        raise ValueError(f"expected votes of shape (n_rows, {len(names)}), got {L.shape}")
    columns = {"row_id": pa.array(row_ids, type=pa.string())}
    for j, name in enumerate(names):
        columns[name] = pa.array(L[:, j], type=pa.int8())
    return pa.table(columns)


def table_votes(table: pa.Table, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The label matrix (n_rows, n_programs) int8 and program names of a vote shard."""
    names = [n for n in table.column_names if n != "row_id"] if names is None else list(names)
    if not names:
        return np.full((table.num_rows, 0), ABSTAIN, dtype=np.int8), []
    L = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(np.int8, copy=False)
    return L, names


def apply_shard(
    data_root: str,
    shard: str,
    programs_uri: str,
    votes_uri: str,
    *,
    n_classes: int,
    fields: Sequence[str],
    program_seconds: float,
    memory_mb: int,
    cache_root: str | None = None,
) -> dict[str, Any]:
    """Label one data shard with a stored program set and write its vote shard.

    Parameters
    ----------
    data_root, shard : str
        The dataset folder URI and the shard's path inside it.
    programs_uri : str
        Folder of the stored program set.
    votes_uri : str
        Where the vote shard goes (written atomically).
    cache_root : str, optional
        Cache root for precomputed features (``cache/embeddings``), when programs declare them.

    Returns
    -------
    dict
        ``uri``, ``n_rows`` and per-program ``faults``.
    """
    from alchemist_core.apply import label_partition
    from alchemist_core.sandbox import SandboxLimits

    data = Storage(data_root)
    program_set = load_program_set(Storage(programs_uri))
    table = data.read_table(shard)
    declared = program_set.features
    if declared:
        table = add_program_features(table, declared, fields, Storage(cache_root) if cache_root else None)
        fields = [*fields, *declared]
    limits = SandboxLimits(program_seconds=program_seconds, memory_mb=memory_mb)
    labels = label_partition(table, program_set, n_classes, fields=list(fields), limits=limits)
    out = Storage(votes_uri)
    out.write_table(votes_table(table.column("row_id"), labels.L, labels.program_names), "")
    return {
        "uri": votes_uri,
        "n_rows": table.num_rows,
        "faults": {name: asdict(fault) for name, fault in labels.faults.items()},
    }


SUPPORTED_FEATURES = ("minilm",)


def add_program_features(table: pa.Table, names: Sequence[str], fields: Sequence[str], cache: Storage | None) -> pa.Table:
    """Append the precomputed feature columns programs declared (``minilm``: the text's embedding)."""
    from alchemist_core.errors import InputError

    unknown = sorted(set(names) - set(SUPPORTED_FEATURES))
    if unknown:
        raise InputError(f"programs declare unknown FEATURES {unknown}; supported: {list(SUPPORTED_FEATURES)}")
    from alchemist_core.features import embed_with_cache
    from alchemist_core.training import row_texts

    text_fields = ["text"] if "text" in fields else list(fields[:1])
    texts = row_texts(table, text_fields)
    embeddings = embed_with_cache(texts, cache.child("embeddings") if cache else None, encoder="minilm")
    values = pa.array(embeddings.astype(np.float32).ravel())
    column = pa.FixedSizeListArray.from_arrays(values, embeddings.shape[1])
    return table.append_column("minilm", column)


def read_label_matrix(uris: Sequence[str], names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Concatenate vote shards: (row_ids, L (n_rows, n_programs) int8, names)."""
    row_ids: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for uri in uris:
        table = Storage(uri).read_table()
        L, names = table_votes(table, names)
        row_ids.append(table.column("row_id").to_numpy(zero_copy_only=False))
        blocks.append(L)
    if not blocks:
        return np.array([], dtype=object), np.zeros((0, len(names or [])), dtype=np.int8), list(names or [])
    return np.concatenate(row_ids), np.concatenate(blocks), list(names or [])
