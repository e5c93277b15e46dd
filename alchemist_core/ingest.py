"""Ingest a dataset: read CSV, JSONL, Parquet or a WRENCH folder into Parquet shards.

The dataset folder (a :class:`~alchemist_core.storage.Storage` root, typically
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
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import logging
import posixpath
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError, StorageError
from alchemist_core.storage import Storage

logger = logging.getLogger(__name__)

MANIFEST_FILE = "dataset.json"
FORMATS = ("csv", "jsonl", "parquet", "wrench")
WRENCH_SPLITS = ("train", "valid", "test")
ROW_ID = "row_id"

# Bumped whenever the folder layout changes, so that old folders get a different digest.
_LAYOUT_VERSION = 1
_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"
}
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INTEGER = re.compile(r"^-?[0-9]+$")
_READ_BLOCK = 1 << 22


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


# -- options and source files --------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    fields: tuple[str, ...]
    label_field: str | None
    id_field: str | None
    split_field: str | None
    class_names: tuple[str, ...] | None
    shard_rows: int

    def as_json(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "label_field": self.label_field,
            "id_field": self.id_field,
            "split_field": self.split_field,
            "class_names": None if self.class_names is None else list(self.class_names),
            "shard_rows": self.shard_rows,
        }


@dataclass(frozen=True)
class _Source:
    uri: str
    fs: fsspec.AbstractFileSystem
    path: str
    format: str
    # (name relative to the source, full path), sorted by name; "" for a single file
    files: tuple[tuple[str, str], ...]

    def file(self, name: str) -> str | None:
        for relative, full in self.files:
            if relative == name:
                return full
        return None


def _check_options(
    fields: Sequence[str],
    label_field: str | None,
    id_field: str | None,
    split_field: str | None,
    class_names: Sequence[str] | None,
    shard_rows: int,
) -> _Options:
    if isinstance(fields, str):
        raise InputError(f"fields must be a list of column names, got the string {fields!r}; write fields=[{fields!r}]")
    fields = tuple(fields)
    if not fields:
        raise InputError("fields is empty; expected at least one input field, e.g. fields=['text']")
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise InputError(f"fields must be unique, but {repeated} appear more than once")
    if ROW_ID in fields:
        raise InputError(
            f"{ROW_ID!r} is reserved for the row ids Alchemist assigns; rename that field or use id_field={ROW_ID!r}"
        )
    if label_field is not None and label_field in fields:
        raise InputError(
            f"label_field {label_field!r} is also listed in fields {list(fields)}; gold labels are kept out of the "
            "shards so that no program can read them: remove it from fields"
        )
    if not isinstance(shard_rows, int) or shard_rows < 1:
        raise InputError(f"shard_rows must be a positive int, got {shard_rows!r}")
    if class_names is not None:
        class_names = tuple(str(c) for c in class_names)
        if len(set(class_names)) != len(class_names) or len(class_names) < 2:
            raise InputError(f"class_names must be at least two unique names, got {list(class_names)}")
    return _Options(fields, label_field, id_field, split_field, class_names, shard_rows)


def _open_source(source: str, format: str | None, storage_options: dict | None) -> _Source:
    try:
        fs, path = fsspec.core.url_to_fs(str(source), **(storage_options or {}))
        is_dir = fs.isdir(path)
        exists = is_dir or fs.exists(path)
    except Exception as error:  # noqa: BLE001 - filesystems raise their own kinds (botocore, aiohttp, ...)
        raise InputError(
            f"cannot reach {source}: {type(error).__name__}: {error}; expected a readable local path or fsspec URL "
            f"(for s3:// check AWS_ENDPOINT_URL, credentials and the bucket name)"
        ) from None
    if not exists:
        raise InputError(f"expected a data file or folder at {source}, but nothing is there")
    if format is not None and format not in FORMATS:
        raise InputError(f"format must be one of {list(FORMATS)}, got {format!r}")
    if is_dir:
        names = {posixpath.basename(str(p).rstrip("/")): str(p) for p in fs.ls(path, detail=False)}
        if format is None:
            if "label.json" in names or any(f"{s}.json" in names for s in WRENCH_SPLITS):
                format = "wrench"
            elif any(_suffix(n) in (".parquet", ".pq") for n in names) or _find_parquet(fs, path):
                format = "parquet"
            else:
                raise InputError(
                    f"cannot tell the format of the folder {source}: expected a WRENCH folder (train.json, valid.json, "
                    f"test.json, label.json) or a folder of .parquet files; found {sorted(names)[:10]}"
                )
        if format == "wrench":
            wanted = [f"{s}.json" for s in WRENCH_SPLITS] + ["label.json"]
            files = tuple(sorted((n, names[n]) for n in wanted if n in names))
            if not any(n != "label.json" for n, _ in files):
                raise InputError(f"{source} holds none of train.json, valid.json, test.json; expected a WRENCH folder")
        elif format == "parquet":
            found = _find_parquet(fs, path)
            if not found:
                raise InputError(f"expected .parquet files in the folder {source}, found none")
            prefix = path.rstrip("/") + "/"
            files = tuple(sorted((p[len(prefix):] if p.startswith(prefix) else p, p) for p in found))
        else:
            raise InputError(f"format {format!r} needs a file, but {source} is a folder")
    else:
        if format is None:
            format = _SUFFIXES.get(_suffix(path))
            if format is None:
                raise InputError(
                    f"cannot tell the format of {source} from its suffix {_suffix(path)!r}; expected one of "
                    f"{sorted(_SUFFIXES)} or a WRENCH folder, or pass format= one of {list(FORMATS)}"
                )
        if format == "wrench":
            raise InputError(f"format 'wrench' needs a folder with train/valid/test.json, but {source} is a file")
        files = (("", path),)
    return _Source(str(source), fs, path, format, files)


def _suffix(path: str) -> str:
    base = posixpath.basename(path)
    return base[base.rfind(".") :].lower() if "." in base else ""


def _find_parquet(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    return sorted(
        str(p)
        for p in fs.find(path)
        if _suffix(str(p)) in (".parquet", ".pq") and not posixpath.basename(str(p)).startswith((".", "_"))
    )


def _hash_file(source: _Source, path: str, *, check_utf8: bool) -> str:
    """sha256 of a file's bytes; checks it is UTF-8 on the way, naming the first bad byte."""
    digest = hashlib.sha256()
    offset, line, carry = 0, 1, b""
    try:
        with source.fs.open(path, "rb") as handle:
            while True:
                block = handle.read(_READ_BLOCK)
                if not block:
                    break
                digest.update(block)
                if not check_utf8:
                    continue
                data = carry + block
                try:
                    data.decode("utf-8")
                    good, carry = data, b""
                except UnicodeDecodeError as error:
                    if error.reason == "unexpected end of data" and len(data) - error.start < 4:
                        # A multi-byte character split across two reads: finish it with the next one.
                        good, carry = data[: error.start], data[error.start :]
                    else:
                        _raise_not_utf8(source, path, data, error.start, offset, line)
                offset += len(good)
                line += good.count(b"\n")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error}") from None
    if carry:
        _raise_not_utf8(source, path, carry, 0, offset, line)
    return digest.hexdigest()


def _raise_not_utf8(source: _Source, path: str, data: bytes, start: int, offset: int, line: int) -> None:
    line += data[:start].count(b"\n")
    raise InputError(
        f"{path} is not valid UTF-8 text: byte 0x{data[start]:02x} at byte offset {offset + start} (line {line}) "
        f"cannot be decoded; expected UTF-8, re-encode the file (e.g. `iconv -f latin1 -t utf-8`)"
    )


def _digest(source: _Source, options: _Options) -> str:
    check_utf8 = source.format in ("csv", "jsonl")
    file_digests = [[name, _hash_file(source, path, check_utf8=check_utf8)] for name, path in source.files]
    return digest_json(
        {
            "layout_version": _LAYOUT_VERSION,
            "format": source.format,
            "files": file_digests,
            "options": options.as_json(),
        }
    )


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


# -- reading rows --------------------------------------------------------------------------


@dataclass
class _Chunk:
    """Consecutive rows of one split, as read from the source."""

    split: str
    n_rows: int
    columns: dict[str, pa.Array]  # field -> values; a field absent here is all null
    ids: pa.Array | None = None  # string, from id_field (or WRENCH ids)
    labels: pa.Array | None = None  # string: a class name or index; null where unknown
    weak: np.ndarray | None = None  # (n_rows, n_weak_labels) int8


def _as_text(value: Any) -> str | None:
    """A JSON value as the text a program sees: strings as they are, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _suggest(name: str, available: Iterable[str]) -> str:
    available = list(available)
    matches = [a for a in available if a.lower() == name.lower() and a != name]
    matches += [m for m in difflib.get_close_matches(name, available, n=3, cutoff=0.6) if m not in matches]
    if not matches:
        return ""
    return f"; did you mean {matches[0]!r}?" if len(matches) == 1 else f"; did you mean one of {matches}?"


def _check_columns(available: Sequence[str], options: _Options, where: str) -> bool:
    """Raise on a missing field; returns whether the label column exists."""
    shown = list(available)[:30]
    roles = [("field", f) for f in options.fields]
    roles += [("id_field", options.id_field), ("split_field", options.split_field)]
    for role, name in roles:
        if name is not None and name not in available:
            raise InputError(
                f"{role} {name!r} is not in {where}; expected one of its columns {shown}{_suggest(name, available)}"
            )
    label = options.label_field
    if label is None or label in available:
        return label is not None
    hint = _suggest(label, available)
    if label != "label" or hint:
        raise InputError(
            f"label_field {label!r} is not in {where}; expected one of its columns {shown}{hint} "
            "(pass label_field=None for unlabeled data)"
        )
    logger.info("%s has no %r column: ingesting it without gold labels", where, label)
    return False


def _needed(options: _Options, has_label: bool) -> list[str]:
    extra = [options.label_field if has_label else None, options.id_field, options.split_field]
    needed = list(options.fields)
    for name in extra:
        if name is not None and name not in needed:
            needed.append(name)
    return needed


def _chunks_from_tables(tables: Iterable[pa.Table], options: _Options, has_label: bool, where: str) -> Iterator[_Chunk]:
    """Split tables from a CSV, JSONL or Parquet source into per-split chunks."""
    for table in tables:
        if table.num_rows == 0:
            continue
        if options.split_field is None:
            groups = [("train", table)]
        else:
            groups = list(_group_by_split(table, options.split_field, where))
        for split, part in groups:
            columns = {f: _normalise(part.column(f)) for f in options.fields if f in part.column_names}
            ids = None
            if options.id_field is not None:
                ids = _normalise(part.column(options.id_field))
                if ids.null_count:
                    raise InputError(
                        f"id_field {options.id_field!r} is empty in {ids.null_count} rows of {where}; "
                        "expected an id on every row"
                    )
                ids = _to_string(ids, f"id_field {options.id_field!r}")
            labels = None
            if has_label and options.label_field in part.column_names:
                labels = _raw_labels(_normalise(part.column(options.label_field)), options.label_field)
            yield _Chunk(split, part.num_rows, columns, ids=ids, labels=labels)


def _group_by_split(table: pa.Table, split_field: str, where: str) -> Iterator[tuple[str, pa.Table]]:
    values = _normalise(table.column(split_field))
    if values.null_count:
        raise InputError(
            f"split_field {split_field!r} is empty in {values.null_count} rows of {where}; "
            "expected a split name on every row"
        )
    values = _to_string(values, f"split_field {split_field!r}")
    for split in values.unique().to_pylist():
        if not _SPLIT_NAME.match(split):
            raise InputError(
                f"split_field {split_field!r} holds {split!r}; expected split names of letters, digits, '_' or '-' "
                "(e.g. train, valid, test)"
            )
        yield split, table.filter(pc.equal(values, split))


def _normalise(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array; dictionary and large string columns become plain ones."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    return column


def _to_string(values: pa.Array, role: str) -> pa.Array:
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_integer(values.type):
        return values.cast(pa.string())
    raise InputError(f"{role} must hold strings or integers, got values of type {values.type}")


def _raw_labels(values: pa.Array, label_field: str) -> pa.Array:
    """Labels as strings (class names or indices), whatever type the source gave."""
    if pa.types.is_string(values.type) or pa.types.is_null(values.type):
        return values.cast(pa.string())
    if pa.types.is_integer(values.type):
        return values.cast(pa.string())
    if pa.types.is_floating(values.type):
        present = values.drop_null()
        if len(present) and not pc.all(pc.equal(pc.floor(present), present)).as_py():
            raise InputError(
                f"label_field {label_field!r} holds fractional numbers; expected class names or integer class indices"
            )
        return values.cast(pa.int64()).cast(pa.string())
    raise InputError(
        f"label_field {label_field!r} holds values of type {values.type}; expected class names or integer class indices"
    )


def _read_csv(source: _Source, options: _Options) -> tuple[Iterator[_Chunk], bool]:
    path = source.files[0][1]
    delimiter = "\t" if _suffix(path) == ".tsv" else ","
    try:
        with source.fs.open(path, "rb") as handle:
            lines = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            header = next(csv.reader(lines, delimiter=delimiter), None)
    except OSError as error:
        raise InputError(f"cannot read {source.uri}: {error}") from None
    if not header:
        raise InputError(f"{source.uri} is empty; expected a CSV header line and at least one data row")
    has_label = _check_columns(header, options, source.uri)
    needed = _needed(options, has_label)

    def tables() -> Iterator[pa.Table]:
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in needed},
            include_columns=needed,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            # Only an empty cell is missing: "NA" or "null" is text someone wrote.
            null_values=[""],
        )
        parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
        with source.fs.open(path, "rb") as handle:
            try:
                reader = pacsv.open_csv(
                    handle,
                    read_options=pacsv.ReadOptions(block_size=1 << 24),
                    parse_options=parse,
                    convert_options=convert,
                )
                for batch in reader:
                    yield pa.Table.from_batches([batch])
            except pa.ArrowInvalid as error:
                raise InputError(f"{source.uri} is not a well-formed CSV file: {error}") from None

    return _chunks_from_tables(tables(), options, has_label, source.uri), has_label


class _JsonlColumns:
    """Collects JSONL rows column by column; remembers every key it saw."""

    def __init__(self, needed: Sequence[str], options: _Options, where: str):
        self.needed = list(needed)
        self.options = options
        self.where = where
        self.taken = False
        self.seen: set[str] = set()
        self.values: dict[str, list] = {name: [] for name in self.needed}
        self.n_rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.seen.update(row)
        for name in self.needed:
            self.values[name].append(_as_text(row.get(name)))
        self.n_rows += 1

    def take(self) -> pa.Table:
        if not self.taken:
            # An id or split must be on every row: one missing from the first rows is an error now.
            for role, name in (("id_field", self.options.id_field), ("split_field", self.options.split_field)):
                if name is not None and name not in self.seen:
                    raise InputError(
                        f"{role} {name!r} is not in {self.where}; expected one of its keys {sorted(self.seen)[:30]}"
                        f"{_suggest(name, self.seen)}"
                    )
            self.taken = True
        table = pa.table({name: pa.array(values, type=pa.string()) for name, values in self.values.items()})
        self.values = {name: [] for name in self.needed}
        self.n_rows = 0
        return table


def _read_jsonl(source: _Source, options: _Options) -> tuple[Iterator[_Chunk], "_JsonlColumns"]:
    path = source.files[0][1]
    has_label = options.label_field is not None
    collector = _JsonlColumns(_needed(options, has_label), options, source.uri)

    def tables() -> Iterator[pa.Table]:
        with source.fs.open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as error:
                    raise InputError(
                        f"{source.uri} line {number} is not valid JSON ({error.msg}); expected one JSON object per line"
                    ) from None
                if not isinstance(row, dict):
                    raise InputError(
                        f"{source.uri} line {number} holds a JSON {type(row).__name__}; "
                        "expected one JSON object per line"
                    )
                collector.add(row)
                if collector.n_rows >= options.shard_rows:
                    yield collector.take()
        if collector.n_rows:
            yield collector.take()

    # Which fields exist is known only at the end of a JSONL file, so it is checked there.
    return _chunks_from_tables(tables(), options, has_label, source.uri), collector


def _read_parquet(source: _Source, options: _Options) -> tuple[Iterator[_Chunk], bool]:
    opened = [(path, _parquet_file(source, path)) for _, path in source.files]
    schema = opened[0][1].schema_arrow
    has_label = _check_columns(schema.names, options, opened[0][0])
    needed = _needed(options, has_label)
    target = pa.schema([_plain_field(schema.field(name)) for name in needed])
    for path, parquet in opened[1:]:
        label_field = options.label_field if has_label else None
        _check_columns(parquet.schema_arrow.names, replace(options, label_field=label_field), path)

    def tables() -> Iterator[pa.Table]:
        for path, parquet in opened:
            try:
                for batch in parquet.iter_batches(batch_size=min(options.shard_rows, 65_536), columns=needed):
                    table = pa.Table.from_batches([batch])
                    yield pa.table({name: _normalise(table.column(name)) for name in needed}).cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
                raise InputError(
                    f"{path} could not be read as Parquet with the columns of {opened[0][0]} ({error})"
                ) from None

    return _chunks_from_tables(tables(), options, has_label, source.uri), has_label


def _plain_field(f: pa.Field) -> pa.Field:
    type_ = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
    return pa.field(f.name, pa.string() if pa.types.is_large_string(type_) else type_)


def _parquet_file(source: _Source, path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(source.fs.open(path, "rb"))
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(
            f"{path} is not a readable Parquet file ({error}); expected a Parquet file such as pyarrow or pandas write"
        ) from None


def _read_wrench(source: _Source, options: _Options) -> tuple[Iterator[_Chunk], tuple[str, ...] | None, set[str]]:
    class_names = None
    label_path = source.file("label.json")
    if label_path is not None:
        mapping = _load_json(source, label_path)
        try:
            class_names = tuple(str(mapping[str(i)]) for i in range(len(mapping)))
        except (KeyError, TypeError):
            raise InputError(
                f"{label_path} must map class indices '0'..'k-1' to class names, got {str(mapping)[:200]}"
            ) from None
    seen: set[str] = set()

    def chunks() -> Iterator[_Chunk]:
        for split in WRENCH_SPLITS:
            path = source.file(f"{split}.json")
            if path is not None:
                chunk = _wrench_split(source, path, split, options, seen)
                if chunk.n_rows == 0:
                    logger.warning("%s holds no rows; the %s split is left out", path, split)
                    continue
                yield chunk

    return chunks(), class_names, seen


def _load_json(source: _Source, path: str) -> Any:
    try:
        with source.fs.open(path, "rb") as handle:
            return json.loads(handle.read())
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not valid UTF-8 text: byte offset {error.start}; expected UTF-8 JSON") from None


def _wrench_split(source: _Source, path: str, split: str, options: _Options, seen: set[str]) -> _Chunk:
    rows = _load_json(source, path)
    if not isinstance(rows, dict):
        raise InputError(f"{path} holds a JSON {type(rows).__name__}; expected a WRENCH object mapping ids to rows")
    ids, labels, weak = [], [], []
    values: dict[str, list] = {name: [] for name in options.fields}
    for key, row in rows.items():
        data = row.get("data") if isinstance(row, dict) else None
        if not isinstance(data, dict):
            raise InputError(
                f"{path} row {key!r} has no 'data' mapping; "
                "expected {'data': {'text': ...}, 'label': ..., 'weak_labels': [...]}"
            )
        seen.update(data)
        ids.append(f"{split}:{key}")
        for name in options.fields:
            values[name].append(_as_text(data.get(name)))
        label = row.get("label")
        labels.append(None if label is None else str(label))
        weak.append(row.get("weak_labels") or [])
    n_weak = {len(w) for w in weak}
    if len(n_weak) > 1:
        raise InputError(f"{path}: every row must have the same number of weak_labels, found lengths {sorted(n_weak)}")
    weak_matrix = np.asarray(weak, dtype=np.int64).reshape(len(ids), -1) if ids else None
    if weak_matrix is not None and weak_matrix.shape[1] == 0:
        weak_matrix = None
    if weak_matrix is not None and (weak_matrix.min() < -1 or weak_matrix.max() > 127):
        raise InputError(
            f"{path}: weak_labels must be class indices or -1, found values {weak_matrix.min()}..{weak_matrix.max()}"
        )
    return _Chunk(
        split,
        len(ids),
        {name: pa.array(v, type=pa.string()) for name, v in values.items()},
        ids=pa.array(ids, type=pa.string()),
        labels=pa.array(labels, type=pa.string()) if options.label_field is not None else None,
        weak=None if weak_matrix is None else weak_matrix.astype(np.int8),
    )


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
    >>> from alchemist_core.storage import open_storage
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


def read_shard(storage: Storage, relative_path: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read one shard (a path from :attr:`SplitInfo.shards`) as a ``pyarrow.Table``."""
    return storage.read_table(relative_path, columns=None if columns is None else list(columns))


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
