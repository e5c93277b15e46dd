"""Ingest a dataset: read CSV, JSONL, Parquet or a WRENCH folder into Parquet shards.

The dataset folder (a :class:`~alchemist_core.data.storage.Storage` root, typically
``<root>/datasets/<digest[:16]>``) ends up holding::

    dataset.json                     the DatasetManifest, written last
    shards/<split>/shard-00000.parquet
                                     row_id (string) then the input fields; no label column
    gold/<split>.parquet             row_id, label (int64, -1 where no gold label is known)
    weak/<split>.parquet             row_id, weak_000 ... (int8): a WRENCH dataset's own
                                     labeling-function votes, where it has them

Gold labels live apart from the shards so that no program can read them. Row ids are stable:
ingesting the same bytes with the same options gives the same digest and the same row ids.
Every write goes through :class:`Storage` (atomic), and ``dataset.json`` comes last, so a
folder without it is an interrupted or failed ingest that nothing downstream trusts.

This module holds the manifest, the shard writer, label resolution and the public functions.
Checking options, opening the source and hashing it live in
:mod:`alchemist_core.data.sources`; reading rows from each format lives in
:mod:`alchemist_core.data.readers`. ``FORMATS``, ``WRENCH_SPLITS`` and ``ROW_ID`` stay importable
from here.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alchemist_core.data.readers import (
    _SPLIT_NAME,
    _check_columns,
    _Chunk,
    _read_csv,
    _read_jsonl,
    _read_parquet,
    _read_wrench,
)
from alchemist_core.data.sources import (
    _LAYOUT_VERSION,
    FORMATS,  # noqa: F401 - re-exported for importers
    ROW_ID,
    WRENCH_SPLITS,  # noqa: F401 - re-exported for importers
    _check_options,
    _digest,
    _open_source,
    _Options,
    _Source,
)
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError, StorageError

logger = logging.getLogger(__name__)

MANIFEST_FILE = "dataset.json"
_INTEGER = re.compile(r"^-?[0-9]+$")


# -- the manifest --------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitInfo:
    """What one split of an ingested dataset holds.

    Parameters
    ----------
    n_rows : int
        Rows in the split.
    shards : tuple of str
        Shard paths relative to the dataset folder, in row order.
    shard_digests : tuple of str
        sha256 of each shard file's bytes.
    has_gold : bool
        Whether any row has a gold label.
    n_gold : int
        Rows with a gold label.
    has_weak_labels : bool
        Whether ``weak/<split>.parquet`` exists (WRENCH votes).
    n_weak_labels : int
        Number of weak-label columns (0 when there are none).
    null_counts : mapping of str to int
        Field name -> rows where the field is missing (programs see ``None``).
    """

    n_rows: int
    shards: tuple[str, ...]
    shard_digests: tuple[str, ...]
    has_gold: bool
    n_gold: int
    has_weak_labels: bool = False
    n_weak_labels: int = 0
    null_counts: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "shards": list(self.shards),
            "shard_digests": list(self.shard_digests),
            "has_gold": self.has_gold,
            "n_gold": self.n_gold,
            "has_weak_labels": self.has_weak_labels,
            "n_weak_labels": self.n_weak_labels,
            "null_counts": dict(self.null_counts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SplitInfo":
        return cls(
            n_rows=int(data["n_rows"]),
            shards=tuple(data["shards"]),
            shard_digests=tuple(data["shard_digests"]),
            has_gold=bool(data["has_gold"]),
            n_gold=int(data["n_gold"]),
            has_weak_labels=bool(data.get("has_weak_labels", False)),
            n_weak_labels=int(data.get("n_weak_labels", 0)),
            null_counts={str(k): int(v) for k, v in data.get("null_counts", {}).items()},
        )


@dataclass(frozen=True)
class DatasetManifest:
    """An ingested dataset: stored as ``dataset.json`` in the dataset folder.

    Parameters
    ----------
    name : str
        A readable name (the source's file or folder name unless given).
    digest : str
        sha256 over the source bytes and the ingest options; equal inputs give equal digests.
    fields : tuple of str
        The input fields stored in every shard, after ``row_id``.
    splits : mapping of str to SplitInfo
        Split name -> what it holds.
    class_names : tuple of str or None
        Class names in index order, where known (given, from ``label.json``, or inferred).
    source : str
        Where the data was read from.
    format : str
        One of ``csv``, ``jsonl``, ``parquet``, ``wrench``.
    """

    name: str
    digest: str
    fields: tuple[str, ...]
    splits: Mapping[str, SplitInfo]
    class_names: tuple[str, ...] | None
    source: str
    format: str
    layout_version: int = _LAYOUT_VERSION

    @property
    def n_rows(self) -> int:
        return sum(info.n_rows for info in self.splits.values())

    @property
    def folder(self) -> str:
        """The dataset's folder name under ``<root>/datasets/`` (as ``RunLayout.dataset`` names it)."""
        return self.digest[:16]

    def split(self, name: str) -> SplitInfo:
        """The :class:`SplitInfo` of ``name``, with an error naming the splits that exist."""
        try:
            return self.splits[name]
        except KeyError:
            raise InputError(
                f"dataset {self.name!r} has no split {name!r}; expected one of {sorted(self.splits)}"
            ) from None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "fields": list(self.fields),
            "splits": {name: info.to_json() for name, info in self.splits.items()},
            "class_names": None if self.class_names is None else list(self.class_names),
            "source": self.source,
            "format": self.format,
            "layout_version": self.layout_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DatasetManifest":
        class_names = data.get("class_names")
        return cls(
            name=str(data["name"]),
            digest=str(data["digest"]),
            fields=tuple(data["fields"]),
            splits={str(name): SplitInfo.from_json(info) for name, info in data["splits"].items()},
            class_names=None if class_names is None else tuple(class_names),
            source=str(data["source"]),
            format=str(data["format"]),
            layout_version=int(data.get("layout_version", _LAYOUT_VERSION)),
        )


# -- the digest ----------------------------------------------------------------------------


def dataset_digest(
    source: str,
    *,
    fields: Sequence[str],
    label_field: str | None = "label",
    id_field: str | None = None,
    split_field: str | None = None,
    format: str | None = None,
    class_names: Sequence[str] | None = None,
    shard_rows: int = 50_000,
    storage_options: dict | None = None,
) -> str:
    """The digest :func:`ingest_dataset` would give, without writing anything.

    Lets a caller pick the dataset folder (``datasets/<digest[:16]>``, as
    :attr:`DatasetManifest.folder` names it) before ingesting, and skip the ingest when that
    folder already holds a manifest. Parameters are those of
    :func:`ingest_dataset`.
    """
    options = _check_options(fields, label_field, id_field, split_field, class_names, shard_rows)
    return _digest(_open_source(source, format, storage_options), options)


# -- writing shards ------------------------------------------------------------------------


class _SplitWriter:
    """Buffers one split's rows and writes a shard every ``shard_rows`` rows."""

    def __init__(self, storage: Storage, split: str, options: _Options):
        self.storage = storage
        self.split = split
        self.options = options
        self.pending: list[pa.Table] = []
        self.n_pending = 0
        self.n_rows = 0
        self.shards: list[str] = []
        self.shard_digests: list[str] = []
        self.ids: list[pa.Array] = []
        self.labels: list[pa.Array] = []
        self.weak: list[np.ndarray] = []
        self.null_counts = {name: 0 for name in options.fields}
        self.types: dict[str, pa.DataType] = {}

    def add(self, chunk: _Chunk) -> None:
        n = chunk.n_rows
        ids = chunk.ids
        if ids is None:
            positions = pa.array(np.arange(self.n_rows, self.n_rows + n)).cast(pa.string())
            ids = pc.binary_join_element_wise(f"{self.split}:", positions, "")
        columns = {ROW_ID: ids}
        for name in self.options.fields:
            values = chunk.columns.get(name)
            if values is None:
                values = pa.nulls(n, self.types.get(name, pa.string()))
            self.types.setdefault(name, values.type)
            self.null_counts[name] += values.null_count
            columns[name] = values
        self.pending.append(pa.table(columns))
        self.ids.append(ids)
        self.labels.append(chunk.labels if chunk.labels is not None else pa.nulls(n, pa.string()))
        if chunk.weak is not None:
            self.weak.append(chunk.weak)
        self.n_rows += n
        self.n_pending += n
        while self.n_pending >= self.options.shard_rows:
            self._flush(self.options.shard_rows)

    def finish(self) -> None:
        if self.n_pending:
            self._flush(self.n_pending)

    def _flush(self, n_rows: int) -> None:
        table = pa.concat_tables(self.pending, promote_options="permissive")
        shard, rest = table.slice(0, n_rows), table.slice(n_rows)
        relative = f"shards/{self.split}/shard-{len(self.shards):05d}.parquet"
        self.shard_digests.append(_write_parquet(self.storage, shard, relative))
        self.shards.append(relative)
        self.pending = [rest] if rest.num_rows else []
        self.n_pending = rest.num_rows


def _write_parquet(storage: Storage, table: pa.Table, relative: str) -> str:
    """Write ``table`` atomically; returns the sha256 of the bytes written."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    storage.write_bytes(data, relative)
    return hashlib.sha256(data).hexdigest()


def _resolve_labels(
    raw: Mapping[str, pa.ChunkedArray], class_names: tuple[str, ...] | None, label_field: str | None
) -> tuple[dict[str, np.ndarray], tuple[str, ...] | None]:
    """Map raw labels (class names or indices, as strings) to int64 indices, -1 where unknown."""
    trimmed = {split: pc.utf8_trim_whitespace(values) for split, values in raw.items()}
    uniques = sorted({v for values in trimmed.values() for v in values.unique().to_pylist() if v})
    mapping: dict[str, int] = {}
    if class_names is not None:
        lookup = {name: i for i, name in enumerate(class_names)}
        unknown = []
        for value in uniques:
            if value in lookup:
                mapping[value] = lookup[value]
            elif _INTEGER.match(value) and -1 <= int(value) < len(class_names):
                mapping[value] = int(value)
            else:
                unknown.append(value)
        if unknown:
            raise InputError(
                f"label_field {label_field!r} holds {len(unknown)} values that are not classes, e.g. {unknown[:10]}; "
                f"expected one of the class names {list(class_names)} or an index 0..{len(class_names) - 1}"
            )
    else:
        names = [v for v in uniques if not _INTEGER.match(v)]
        indices = [v for v in uniques if _INTEGER.match(v) and v != "-1"]
        if names and indices:
            raise InputError(
                f"label_field {label_field!r} mixes class names {names[:5]} and class indices {indices[:5]}; "
                "expected one or the other (pass class_names to map names to indices)"
            )
        if names:
            class_names = tuple(names)
            logger.info("no class_names given: using the sorted label values %s", list(class_names))
            mapping = {name: i for i, name in enumerate(class_names)}
        else:
            negative = [v for v in indices if int(v) < 0]
            if negative:
                raise InputError(
                    f"label_field {label_field!r} holds negative indices {negative[:5]}; "
                    "expected 0..k-1, or -1 for no label"
                )
            mapping = {v: int(v) for v in indices}
        if "-1" in uniques:
            mapping["-1"] = -1
    keys = pa.array(list(mapping), type=pa.string())
    codes = np.array([*mapping.values(), -1], dtype=np.int64)
    resolved = {}
    for split, values in trimmed.items():
        # index_in gives null for a value not in keys (null or empty labels): those take the trailing -1.
        positions = pc.fill_null(pc.index_in(values, value_set=keys), len(mapping))
        resolved[split] = codes[positions.to_numpy()]
    return resolved, class_names


def _check_unique_ids(writers: Mapping[str, _SplitWriter], id_field: str | None) -> None:
    ids = pa.chunked_array([a for w in writers.values() for a in w.ids], type=pa.string())
    if pc.count_distinct(ids).as_py() == len(ids):
        return
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    examples = [f"{item['values']!r} ({item['counts']}x)" for item in repeated.slice(0, 5).to_pylist()]
    where = f"id_field {id_field!r}" if id_field else "the row ids"
    raise InputError(f"{where} must be unique, but {len(repeated)} ids repeat, e.g. {', '.join(examples)}")


# -- the public functions ------------------------------------------------------------------


def ingest_dataset(
    source: str,
    storage: Storage,
    *,
    fields: Sequence[str],
    label_field: str | None = "label",
    id_field: str | None = None,
    split_field: str | None = None,
    format: str | None = None,
    class_names: Sequence[str] | None = None,
    shard_rows: int = 50_000,
    storage_options: dict | None = None,
    name: str | None = None,
) -> DatasetManifest:
    """Read a dataset and write it as Parquet shards plus gold labels under ``storage``.

    Parameters
    ----------
    source : str
        A local path or fsspec URL (``s3://...``, ``memory://...``): a ``.csv``/``.tsv``,
        ``.jsonl``/``.ndjson`` or ``.parquet`` file, a folder of Parquet files, or a WRENCH
        folder (``train.json``, ``valid.json``, ``test.json``, whichever exist, plus
        ``label.json``).
    storage : Storage
        The dataset folder. ``shards/``, ``gold/``, ``weak/`` and ``dataset.json`` under it
        are replaced.
    fields : sequence of str
        The input fields programs may read (for WRENCH, keys of each row's ``data``).
    label_field : str or None
        The gold label column (class names or indices); ``None`` for unlabeled data. When the
        default ``"label"`` column is absent and nothing close to it exists, the data is
        taken as unlabeled. A WRENCH row's label is its ``label`` key whatever the name;
        ``None`` leaves a WRENCH dataset without gold labels too.
    id_field : str or None
        A column of unique row ids; else rows get ``"<split>:<position>"``. WRENCH rows get
        ``"<split>:<id>"``.
    split_field : str or None
        A column of split names; else every row is in ``train``. Not for WRENCH.
    format : str or None
        ``csv``, ``jsonl``, ``parquet`` or ``wrench``; by default from the suffix or folder.
    class_names : sequence of str or None
        Class names in index order (from the task spec): label names map to their index.
        Without them, integer labels are taken as indices and names are sorted.
    shard_rows : int
        Rows per shard.
    storage_options : dict or None
        fsspec options for reading ``source``.
    name : str or None
        A readable name; by default the source's file or folder name.

    Returns
    -------
    DatasetManifest
        Also written to ``dataset.json``. When that file already records the same digest,
        nothing is rewritten.

    Raises
    ------
    InputError
        When the source cannot be read or is not what was expected (empty, a missing or
        all-empty field, bytes that are not UTF-8, repeated ids, labels that are not
        classes, a corrupt Parquet file). Nothing is left behind that a later run trusts.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from alchemist_core.data.storage import open_storage
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "tickets.csv").write_text(
    ...     "text,label\\nmy card was charged twice,billing\\napp crashes,technical\\n"
    ... )
    >>> manifest = ingest_dataset(str(folder / "tickets.csv"), open_storage(str(folder / "ds")),
    ...                           fields=["text"], class_names=["billing", "technical"])
    >>> manifest.splits["train"].n_rows, manifest.class_names
    (2, ('billing', 'technical'))
    >>> read_gold(open_storage(str(folder / "ds")), "train")[1].tolist()
    [0, 1]
    """
    started = time.perf_counter()
    options = _check_options(fields, label_field, id_field, split_field, class_names, shard_rows)
    src = _open_source(source, format, storage_options)
    if src.format == "wrench" and (id_field is not None or split_field is not None):
        raise InputError(
            "id_field and split_field do not apply to a WRENCH folder: its rows have ids and its files are the splits"
        )
    digest = _digest(src, options)
    name = name or posixpath.basename(src.path.rstrip("/")).rsplit(".", 1)[0] or "dataset"

    existing = _existing_manifest(storage, digest)
    if existing is not None:
        if (existing.name, existing.source) != (name, str(source)):
            existing = replace(existing, name=name, source=str(source))
            storage.write_json(existing.to_json(), MANIFEST_FILE)
        logger.info("dataset %s (%s) is already ingested at %s", name, digest[:12], storage.root)
        return existing

    # Remove the old manifest first: from here until the new one is written the folder is untrusted.
    for part in (MANIFEST_FILE, "shards", "gold", "weak"):
        storage.delete(part)
    try:
        manifest = _ingest(src, storage, options, digest, name)
    except BaseException:
        for part in ("shards", "gold", "weak"):
            try:
                storage.delete(part)
            except OSError:
                logger.warning("could not remove the partial %s under %s", part, storage.root)
        raise
    storage.write_json(manifest.to_json(), MANIFEST_FILE)
    logger.info(
        "ingested %s: %d rows in %s in %.1f s (digest %s)",
        name,
        manifest.n_rows,
        {s: i.n_rows for s, i in manifest.splits.items()},
        time.perf_counter() - started,
        digest[:12],
    )
    return manifest


def _existing_manifest(storage: Storage, digest: str) -> DatasetManifest | None:
    if not storage.exists(MANIFEST_FILE):
        return None
    try:
        manifest = DatasetManifest.from_json(storage.read_json(MANIFEST_FILE))
    except (StorageError, KeyError, TypeError, ValueError):
        return None
    if manifest.digest != digest:
        return None
    if not all(storage.exists(s) for info in manifest.splits.values() for s in info.shards):
        return None
    return manifest


def _ingest(src: _Source, storage: Storage, options: _Options, digest: str, name: str) -> DatasetManifest:
    class_names = options.class_names
    seen: set[str] = set()
    if src.format == "csv":
        chunks, has_label = _read_csv(src, options)
    elif src.format == "parquet":
        chunks, has_label = _read_parquet(src, options)
    elif src.format == "jsonl":
        chunks, collector = _read_jsonl(src, options)
        has_label = options.label_field is not None
    else:
        chunks, file_class_names, seen = _read_wrench(src, options)
        has_label = options.label_field is not None
        class_names = _reconcile_class_names(options.class_names, file_class_names, src.uri)

    writers: dict[str, _SplitWriter] = {}
    for chunk in chunks:
        if chunk.split not in writers:
            writers[chunk.split] = _SplitWriter(storage, chunk.split, options)
        writers[chunk.split].add(chunk)

    # Which keys a JSONL or WRENCH source has is known only once every row was read.
    if src.format == "jsonl" and writers:
        has_label = _check_columns(sorted(collector.seen), options, src.uri)
    elif src.format == "wrench" and writers:
        _check_columns(sorted(seen or ()), replace(options, label_field=None), src.uri)
    n_rows = sum(w.n_rows for w in writers.values())
    if n_rows == 0:
        raise InputError(f"{src.uri} holds no rows; expected at least one data row")
    for field_name in options.fields:
        if sum(w.null_counts[field_name] for w in writers.values()) == n_rows:
            raise InputError(
                f"field {field_name!r} is empty in all {n_rows} rows of {src.uri}; expected text in at least one row"
            )
    if options.id_field is not None or src.format == "wrench":
        _check_unique_ids(writers, options.id_field)

    for writer in writers.values():
        writer.finish()
    raw = {split: pa.chunked_array(w.labels, type=pa.string()) for split, w in writers.items()}
    gold, class_names = _resolve_labels(raw, class_names, options.label_field) if has_label else (
        {split: np.full(w.n_rows, -1, dtype=np.int64) for split, w in writers.items()}, class_names
    )
    n_weak = {w.weak[0].shape[1] for w in writers.values() if w.weak}
    if len(n_weak) > 1:
        raise InputError(f"{src.uri}: every split must have the same number of weak_labels, found {sorted(n_weak)}")

    splits = {}
    for split, writer in writers.items():
        ids = pa.chunked_array(writer.ids, type=pa.string())
        gold_table = pa.table({ROW_ID: ids, "label": pa.array(gold[split], type=pa.int64())})
        _write_parquet(storage, gold_table, f"gold/{split}.parquet")
        n_weak_labels = 0
        if writer.weak:
            weak = np.concatenate(writer.weak)
            n_weak_labels = weak.shape[1]
            columns = {ROW_ID: ids}
            columns.update({f"weak_{j:03d}": pa.array(weak[:, j], type=pa.int8()) for j in range(n_weak_labels)})
            _write_parquet(storage, pa.table(columns), f"weak/{split}.parquet")
        n_gold = int((gold[split] >= 0).sum())
        splits[split] = SplitInfo(
            n_rows=writer.n_rows,
            shards=tuple(writer.shards),
            shard_digests=tuple(writer.shard_digests),
            has_gold=n_gold > 0,
            n_gold=n_gold,
            has_weak_labels=n_weak_labels > 0,
            n_weak_labels=n_weak_labels,
            null_counts=dict(writer.null_counts),
        )
    return DatasetManifest(name, digest, options.fields, splits, class_names, src.uri, src.format)


def _reconcile_class_names(
    given: tuple[str, ...] | None, from_file: tuple[str, ...] | None, where: str
) -> tuple[str, ...] | None:
    if given is None or from_file is None or given == from_file:
        return given or from_file
    raise InputError(
        f"class_names {list(given)} do not match the label.json of {where}, "
        f"which lists {list(from_file)} in index order; "
        "expected the same names in the same order (WRENCH labels are indices into label.json)"
    )


def load_dataset_manifest(storage: Storage) -> DatasetManifest:
    """Read ``dataset.json`` from a dataset folder written by :func:`ingest_dataset`."""
    if not storage.exists(MANIFEST_FILE):
        raise StorageError(
            f"expected {MANIFEST_FILE} at {storage.uri(MANIFEST_FILE)}, found none; the dataset was not ingested there "
            "or its ingest did not finish"
        )
    return DatasetManifest.from_json(storage.read_json(MANIFEST_FILE))


def read_gold(storage: Storage, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and gold labels of a split.

    Returns
    -------
    row_ids : numpy.ndarray of str (object dtype)
    labels : numpy.ndarray of int64
        Class indices, ``-1`` where the row has no gold label.
    """
    table = storage.read_table(f"gold/{_checked_split(storage, split)}.parquet")
    row_ids = table.column(ROW_ID).to_numpy(zero_copy_only=False)
    return row_ids, table.column("label").to_numpy().astype(np.int64, copy=False)


def read_weak_labels(storage: Storage, split: str) -> np.ndarray | None:
    """A WRENCH split's own weak labels, ``(n_rows, n_weak_labels)`` int8 with -1 = abstain; ``None`` without."""
    split = _checked_split(storage, split)
    if not storage.exists(f"weak/{split}.parquet"):
        return None
    table = storage.read_table(f"weak/{split}.parquet")
    names = [n for n in table.column_names if n != ROW_ID]
    return np.stack([table.column(n).to_numpy() for n in names], axis=1).astype(np.int8, copy=False)


def _checked_split(storage: Storage, split: str) -> str:
    if not _SPLIT_NAME.match(split):
        raise InputError(f"split names are letters, digits, '_' or '-'; got {split!r}")
    if not storage.exists(f"gold/{split}.parquet"):
        splits = sorted(n.removesuffix(".parquet") for n in storage.list("gold", suffix=".parquet"))
        raise InputError(f"no split {split!r} in the dataset at {storage.root}; expected one of {splits}")
    return split
