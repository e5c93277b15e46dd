"""Row readers for ingest: CSV, JSONL, Parquet and WRENCH sources as per-split chunks.

Each ``_read_<format>`` takes an opened :class:`~alchemist_core.data.sources._Source` and
the checked :class:`~alchemist_core.data.sources._Options` and gives an iterator of
:class:`_Chunk` (consecutive rows of one split: the input fields, ids, raw labels as strings
and WRENCH weak labels); CSV, JSONL and Parquet are read in batches, a WRENCH split file
whole. Column checks with close-match suggestions, grouping rows by ``split_field`` and type
normalisation (dictionary and large string columns become plain ones, labels become
strings) live here too. Readers write no shards and map no labels to class indices:
:mod:`alchemist_core.data.ingest` does that. Of the ingest modules this one imports only
:mod:`alchemist_core.data.sources`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from alchemist_core.data.sources import WRENCH_SPLITS, _Options, _Source, _suffix
from alchemist_core.errors import InputError

# Records go to the ingest logger, as the entry point's own do.
logger = logging.getLogger("alchemist_core.data.ingest")

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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
