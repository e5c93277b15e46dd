"""A commented task-spec template written from a data file's columns and labels (``alchemist spec init``).

The template is a valid spec as written (so a first run works), with the instruction and the
class descriptions left for the user to improve: they are what an LLM generator reads.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pyarrow as pa

from alchemist_core.errors import InputError

SAMPLE_ROWS = 50_000
"""Rows read to find the columns, the label values and the text fields."""

MAX_CLASSES = 100
_INTEGER = re.compile(r"^-?\d+$")
_ID_LIKE = {"id", "row_id", "uid", "index", "idx"}
_SPLIT_LIKE = {"split", "fold", "set", "partition"}


@dataclass(frozen=True)
class DataSummary:
    """What a template needs to know of a data file: its columns, label counts, and the text columns."""

    name: str
    columns: tuple[str, ...]
    label_field: str | None
    label_counts: tuple[tuple[str, int], ...]
    text_fields: tuple[str, ...]
    class_names: tuple[str, ...] | None = None  # a WRENCH folder's label.json
    n_rows: int = 0


def summarize_data(source: str, *, label_field: str | None = "label", fields: Sequence[str] | None = None) -> DataSummary:
    """Read up to :data:`SAMPLE_ROWS` rows of a CSV, JSONL or Parquet file or a WRENCH folder.

    Raises
    ------
    InputError
        When the source cannot be read, or ``label_field`` / ``fields`` are not among its columns.
    """
    fs, path = fsspec.core.url_to_fs(source)
    if not fs.exists(path):
        raise InputError(f"no data at {source}; expected a CSV, JSONL or Parquet file or a WRENCH folder")
    class_names = None
    if fs.isdir(path):
        if fs.exists(f"{path}/label.json") and fs.exists(f"{path}/train.json"):
            table, class_names = _read_wrench(fs, path)
            label_field = "label"
        else:
            files = sorted(p for p in fs.find(path) if p.endswith(".parquet"))
            if not files:
                raise InputError(f"{source} is a folder without Parquet files or a WRENCH label.json/train.json")
            table = _read_parquet(fs, files[0])
    else:
        table = _read_file(fs, path, source)
    columns = tuple(table.column_names)
    if label_field is not None and label_field not in columns:
        raise InputError(f"{source} has no label column {label_field!r}; its columns are {list(columns)} (give --label-field)")
    for name in fields or ():
        if name not in columns:
            raise InputError(f"{source} has no column {name!r}; its columns are {list(columns)}")
    counts: Counter[str] = Counter()
    if label_field is not None:
        for value in table.column(label_field).to_pylist():
            if value is not None and str(value).strip() not in ("", "-1"):
                counts[str(value).strip()] += 1
    if len(counts) > MAX_CLASSES:
        raise InputError(
            f"the label column {label_field!r} of {source} holds {len(counts)} distinct values in its first "
            f"{table.num_rows:,} rows; expected a class label (at most {MAX_CLASSES} classes): give --label-field"
        )
    text = tuple(fields) if fields else _text_fields(table, exclude={label_field} if label_field else set())
    stem = PurePosixPath(path.rstrip("/")).name.split(".")[0]
    return DataSummary(
        name=re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "task",
        columns=columns,
        label_field=label_field,
        label_counts=tuple(sorted(counts.items(), key=_label_order)),
        text_fields=text,
        class_names=class_names,
        n_rows=table.num_rows,
    )


def _label_order(item: tuple[str, int]) -> tuple[int, Any]:
    value = item[0]
    return (0, int(value)) if _INTEGER.match(value) else (1, value)


def _text_fields(table: pa.Table, exclude: set[str]) -> tuple[str, ...]:
    """String columns that read like text (not ids, splits or short codes), longest first."""
    found = []
    for name in table.column_names:
        if name in exclude or name.lower() in _ID_LIKE | _SPLIT_LIKE:
            continue
        values = [v for v in table.column(name).to_pylist()[:2000] if isinstance(v, str)]
        if not values:
            continue
        mean_length = sum(len(v) for v in values) / len(values)
        distinct = len(set(values)) / len(values)
        if mean_length >= 15 and distinct > 0.5:
            found.append((mean_length, name))
    return tuple(name for _, name in sorted(found, reverse=True)) or ("text",)


def _read_file(fs: Any, path: str, source: str) -> pa.Table:
    suffix = path.lower().rsplit(".", 1)[-1]
    try:
        if suffix == "parquet":
            return _read_parquet(fs, path)
        if suffix in ("jsonl", "json", "ndjson"):
            rows = []
            with fs.open(path, "rt", encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        rows.append(json.loads(line))
                    if len(rows) >= SAMPLE_ROWS:
                        break
            return pa.Table.from_pylist([_flat(row) for row in rows])
        if suffix in ("csv", "tsv"):
            import pyarrow.csv as pacsv

            with fs.open(path, "rb") as handle:
                options = pacsv.ParseOptions(delimiter="\t" if suffix == "tsv" else ",", newlines_in_values=True)
                convert = pacsv.ConvertOptions(strings_can_be_null=True, auto_dict_encode=False)
                reader = pacsv.open_csv(handle, parse_options=options, convert_options=convert)
                batches = []
                n = 0
                for batch in reader:
                    batches.append(batch)
                    n += batch.num_rows
                    if n >= SAMPLE_ROWS:
                        break
                return pa.Table.from_batches(batches, schema=reader.schema).cast(
                    pa.schema([pa.field(f.name, pa.string()) for f in reader.schema])
                )
    except (OSError, ValueError, pa.ArrowException) as error:
        raise InputError(f"could not read {source}: {error}") from None
    raise InputError(f"{source}: expected a .csv, .tsv, .jsonl or .parquet file or a WRENCH folder, got .{suffix}")


def _read_parquet(fs: Any, path: str) -> pa.Table:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        table = parquet.read_row_group(0) if parquet.num_row_groups else parquet.schema_arrow.empty_table()
    return table.slice(0, SAMPLE_ROWS)


def _flat(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"expected one JSON object per line, got {type(row).__name__}")
    return {str(k): (v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)) for k, v in row.items()}


def _read_wrench(fs: Any, path: str) -> tuple[pa.Table, tuple[str, ...]]:
    with fs.open(f"{path}/label.json", "rt", encoding="utf-8") as handle:
        labels = json.load(handle)
    names = tuple(str(labels[key]) for key in sorted(labels, key=lambda k: int(k)))
    with fs.open(f"{path}/train.json", "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    rows = []
    for item in list(data.values())[:SAMPLE_ROWS]:
        row = {k: v for k, v in (item.get("data") or {}).items() if isinstance(v, (str, int, float))}
        row["label"] = str(item.get("label"))
        rows.append(row)
    return pa.Table.from_pylist(rows), names


def spec_template(summary: DataSummary) -> str:
    """A commented YAML task spec for the data: valid as written, meant to be improved by hand."""
    names = _class_names(summary)
    q = json.dumps  # a JSON string is a YAML scalar that needs no further escaping
    lines = [
        f"# Task spec written by `alchemist spec init` from {summary.n_rows:,} rows ({', '.join(summary.columns)}).",
        "# It is valid as it stands; the instruction and the class descriptions are what an LLM generator reads,",
        "# so say in them what a person labeling a row needs to know. Check it with: alchemist spec check <this file>",
        f"name: {q(summary.name)}",
        "# One or two sentences: what a row is, and what to decide about it.",
        f"instruction: {q('Read each row and decide which class it belongs to: ' + ', '.join(names) + '.')}",
        "# The classes in class-index order. Labels in the data are these names, or their indices 0..k-1.",
        "classes:",
    ]
    counts = dict(summary.label_counts)
    by_index = all(_INTEGER.match(value) for value in counts)
    for index, name in enumerate(names):
        raw = str(index) if by_index else name
        seen = counts.get(raw, 0)
        source = f"label value {raw}, " if raw != name else ""
        lines += [f"  - name: {q(name)}  # {source}{seen:,} rows in the sample",
                  '    description: ""  # one line: what makes a row this class']  # fmt: skip
    lines += [
        "# The columns a program may read (input fields); the label column is never shown to programs.",
        f"input_fields: [{', '.join(q(f) for f in summary.text_fields)}]",
        "# What every choice on the valid split is made by: accuracy, macro_f1, or binary_f1 (two classes,",
        "# the F1 of the second one, for a rare positive class). Empty: accuracy, or macro_f1 when imbalanced.",
        "metric: null",
        "# Optional information for the LLM generator's prompts and the offline generator:",
        "supplementary:",
        '  description: ""  # background on the data and the task',
        "  keywords: {}  # class name -> words or phrases that suggest it, e.g. {spam: [subscribe, check out]}",
        "  exemplars: {}  # class name -> example texts",
        "  rules: []  # plain-language rules, e.g. 'A link to another channel is spam.'",
        "# Optional labeled examples: {fields: {<input field>: ...}, label: <class name>}",
        "examples: []",
    ]
    return "\n".join(lines) + "\n"


def _class_names(summary: DataSummary) -> list[str]:
    if summary.class_names:
        return list(summary.class_names)
    values = [value for value, _ in summary.label_counts]
    if not values:
        return ["class_0", "class_1"]
    if all(_INTEGER.match(v) for v in values):
        top = max(int(v) for v in values)
        return [f"class_{i}" for i in range(top + 1)]
    return values
