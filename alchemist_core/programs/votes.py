"""Vote shards: apply a program set to one data shard and store its votes (read by :mod:`alchemist_core.programs.vote_shards`).

Each vote shard is aligned with its data shard: a ``row_id`` column, then one int8 column per
program (``ABSTAIN = -1``). The functions here are what a Dask worker runs: each worker reads
its own data shard from storage and writes its own vote shard, so no rows travel through the
scheduler.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.data.storage import Storage, parquet_bytes
from alchemist_core.digest import digest_json, sha256_bytes
from alchemist_core.errors import StorageError
from alchemist_core.programs.program_set import load_program_set
from alchemist_core.programs.sandbox import ProgramFaults, SandboxLimits
from alchemist_core.programs.vote_shards import votes_table


def vote_cache_key(
    program_digest: str, *, n_classes: int, fields: Sequence[str], program_seconds: float, memory_mb: int, code: str = ""
) -> str:
    """The key of one program's votes on one shard: everything its votes depend on but the shard.

    ``code`` is the digest of the core code that runs programs: changing it recomputes the votes.
    """
    return digest_json(
        {
            "program": program_digest,
            "n_classes": n_classes,
            "fields": list(fields),
            "program_seconds": float(program_seconds),
            "memory_mb": memory_mb,
            "code": code,
        }
    )


# Parquet schema metadata of a cached vote column: the program's faults on the shard, as JSON.
_FAULTS_KEY = b"alchemist.faults"


def _read_cached_votes(cache: Storage, key: str, n_rows: int) -> tuple[np.ndarray, ProgramFaults] | None:
    try:
        table = cache.read_table(f"{key}.parquet")
    except StorageError:
        return None
    if table.num_rows != n_rows or "votes" not in table.column_names:
        return None
    faults = json.loads((table.schema.metadata or {}).get(_FAULTS_KEY, b"{}"))
    return table.column("votes").to_numpy(zero_copy_only=False).astype(np.int8), ProgramFaults(**faults)


def _write_cached_votes(cache: Storage, key: str, votes: np.ndarray, faults: ProgramFaults, name: str) -> None:
    metadata = {_FAULTS_KEY: json.dumps(asdict(faults)).encode(), b"alchemist.program": name.encode()}
    table = pa.table({"votes": pa.array(np.asarray(votes, dtype=np.int8), type=pa.int8())}).replace_schema_metadata(metadata)
    cache.write_table(table, f"{key}.parquet")


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
    shard_digest: str | None = None,
    code: str = "",
) -> dict[str, Any]:
    """Label one data shard with a stored program set and write its vote shard.

    With ``cache_root`` and ``shard_digest``, each program's votes on the shard are also kept
    under ``<cache_root>/votes/<shard digest>/<key>.parquet`` (key: :func:`vote_cache_key`),
    and only programs without such an entry run: an edited program re-runs alone, and a
    program set applied again to data it has seen runs nothing. The vote shard is assembled
    from those entries, in program-set order.

    Parameters
    ----------
    data_root, shard : str
        The dataset folder URI and the shard's path inside it.
    programs_uri : str
        Folder of the stored program set.
    votes_uri : str
        Where the vote shard goes (written atomically).
    cache_root : str, optional
        The cache root: precomputed features (``embeddings/``) and per-program votes (``votes/``).
    shard_digest : str, optional
        sha256 of the data shard (from the dataset manifest); without it nothing is cached.
    code : str
        Digest of the core code that runs programs; part of every cache key.

    Returns
    -------
    dict
        ``uri``, ``digest`` (sha256 of the vote shard's bytes), ``n_rows``, per-program
        ``faults``, and ``computed``: the programs that ran (the rest came from the cache).
    """
    from alchemist_core.programs.apply import label_partition

    data = Storage(data_root)
    program_set = load_program_set(Storage(programs_uri))
    cache = Storage(cache_root).child("votes", shard_digest) if cache_root and shard_digest else None
    keys = {
        p.name: vote_cache_key(
            p.digest, n_classes=n_classes, fields=fields, program_seconds=program_seconds, memory_mb=memory_mb, code=code
        )
        for p in program_set
    }
    row_ids = data.read_table(shard, columns=["row_id"]).column("row_id")
    outcomes: dict[str, tuple[np.ndarray, ProgramFaults]] = {}
    if cache is not None:
        for name, key in keys.items():
            found = _read_cached_votes(cache, key, len(row_ids))
            if found is not None:
                outcomes[name] = found
    missing = program_set.subset(n for n in program_set.names if n not in outcomes)
    if len(missing):
        table = data.read_table(shard)
        run_fields = list(fields)
        if missing.features:
            table = add_program_features(table, missing.features, fields, Storage(cache_root) if cache_root else None)
            run_fields = [*fields, *missing.features]
        limits = SandboxLimits(program_seconds=program_seconds, memory_mb=memory_mb)
        labels = label_partition(table, missing, n_classes, fields=run_fields, limits=limits)
        for j, name in enumerate(labels.program_names):
            outcomes[name] = (labels.L[:, j], labels.faults[name])
            if cache is not None:
                _write_cached_votes(cache, keys[name], labels.L[:, j], labels.faults[name], name)
    names = program_set.names
    L = np.column_stack([outcomes[n][0] for n in names]) if names else np.zeros((len(row_ids), 0), dtype=np.int8)
    payload = parquet_bytes(votes_table(row_ids, L, names))
    Storage(votes_uri).write_bytes(payload, "")
    return {
        "uri": votes_uri,
        "digest": sha256_bytes(payload),
        "n_rows": len(row_ids),
        "faults": {name: asdict(outcomes[name][1]) for name in names},
        "computed": missing.names,
    }


SUPPORTED_FEATURES = ("minilm",)


def add_program_features(table: pa.Table, names: Sequence[str], fields: Sequence[str], cache: Storage | None) -> pa.Table:
    """Append the precomputed feature columns programs declared (``minilm``: the text's embedding)."""
    from alchemist_core.errors import InputError

    unknown = sorted(set(names) - set(SUPPORTED_FEATURES))
    if unknown:
        raise InputError(f"programs declare unknown FEATURES {unknown}; supported: {list(SUPPORTED_FEATURES)}")
    from alchemist_core.students.features import embed_with_cache, row_texts

    text_fields = ["text"] if "text" in fields else list(fields[:1])
    texts = row_texts(table, text_fields)
    embeddings = embed_with_cache(texts, cache.child("embeddings") if cache else None, encoder="minilm")
    values = pa.array(embeddings.astype(np.float32).ravel())
    column = pa.FixedSizeListArray.from_arrays(values, embeddings.shape[1])
    return table.append_column("minilm", column)


