"""``alchemist export``: a run's labels joined back to its input rows, in one CSV, Parquet or JSONL file.

Each row carries its id (the input's id column when the run had one, else the stable
``<split>:<position>``), its split, the input fields asked for, the label model's pseudolabel
and confidence (and whether any program voted), the student's label and the run's final
label with its confidence and source. The file is written whole or not at all.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from alchemist_core.data.storage import Storage, open_storage
from alchemist_core.errors import InputError

FORMATS = ("csv", "parquet", "jsonl")


@dataclass(frozen=True)
class ExportSummary:
    path: str
    n_rows: int
    columns: tuple[str, ...]
    splits: tuple[str, ...]


def _storage_root(run: Storage) -> Storage:
    """``<root>`` of a run folder ``<root>/runs/<run-id>``."""
    parts = run.root.rstrip("/").rsplit("/", 2)
    if len(parts) != 3 or parts[1] != "runs":
        raise InputError(f"expected a run folder <storage>/runs/<run-id>, got {run.root}")
    return open_storage(parts[0])


def _named(labels: pa.Array, names: Sequence[str]) -> pa.Array:
    values = labels.to_pylist()
    return pa.array([names[v] if v is not None and 0 <= v < len(names) else None for v in values], type=pa.string())


def _lookup(table: pa.Table | None, row_ids: pa.Array, column: str) -> pa.Array | None:
    """``table[column]`` aligned to ``row_ids`` (null where the table has no such row)."""
    if table is None or column not in table.column_names:
        return None
    positions = pc.index_in(row_ids, value_set=table.column("row_id").combine_chunks())
    return pc.take(table.column(column).combine_chunks(), positions)


def _read_all(storage: Storage, *parts: str) -> pa.Table | None:
    folder = storage.child(*parts)
    names = folder.list(suffix=".parquet")
    return pa.concat_tables([folder.read_table(name) for name in names]) if names else None


def export_run(
    run: Storage, out: str, *, format: str | None = None, fields: Sequence[str] | None = None, splits: Sequence[str] | None = None
) -> ExportSummary:
    """Write every row of the run's splits with its labels to ``out`` (see the module docstring).

    Raises
    ------
    InputError
        When ``run`` is not a finished run, the format is unknown, or a field or split is not the run's.
    """
    if "://" in out:
        raise InputError(f"export writes a local file; got {out!r} (copy it to object storage afterwards)")
    kind = (format or out.rsplit(".", 1)[-1]).lower()
    if kind not in FORMATS:
        raise InputError(f"expected the output format to be one of {list(FORMATS)} (or a path ending so), got {kind!r}")
    if not run.exists("manifest.json") or not run.exists("config.json"):
        raise InputError(f"expected a finished run (with manifest.json) at {run.root}; run `alchemist run` first")
    manifest = run.read_json("manifest.json")
    config = run.read_json("config.json")
    spec = run.read_json("spec.json")
    class_names = [c["name"] for c in spec["classes"]]
    data = _storage_root(run).child("datasets", manifest["dataset"]["digest"][:16])
    dataset = data.read_json("dataset.json")
    available = list(dataset["fields"])
    chosen = list(fields) if fields is not None else available
    unknown = [f for f in chosen if f not in available]
    if unknown:
        raise InputError(f"the run's data has no input fields {unknown}; it has {available}")
    all_splits = list(dataset["splits"])
    chosen_splits = list(splits) if splits else all_splits
    missing = [s for s in chosen_splits if s not in all_splits]
    if missing:
        raise InputError(f"the run has no splits {missing}; it has {all_splits}")
    id_column = (config.get("data") or {}).get("id_field") or "row_id"
    tables = []
    for split in chosen_splits:
        shards = dataset["splits"][split]["shards"]
        if not shards:
            continue
        rows = pa.concat_tables([data.read_table(shard, columns=["row_id", *chosen]) for shard in shards])
        ids = rows.column("row_id").combine_chunks()
        labels = _read_all(run, "labels", split)
        student = run.read_table("student", "predictions", f"{split}.parquet") if run.exists("student", "predictions", f"{split}.parquet") else None
        final = run.read_table("final", f"{split}.parquet") if run.exists("final", f"{split}.parquet") else None
        columns: dict[str, pa.Array] = {id_column: ids, "split": pa.array([split] * len(ids), type=pa.string())}
        columns.update({field: rows.column(field).combine_chunks() for field in chosen if field != id_column})
        for name, table, column in (
            ("pseudolabel", labels, "label"), ("pseudolabel_confidence", labels, "confidence"), ("covered", labels, "covered"),
            ("student_label", student, "label"),
            ("final_label", final, "label"), ("final_confidence", final, "confidence"), ("final_source", final, "source"),
        ):  # fmt: skip
            values = _lookup(table, ids, column)
            if values is not None:
                columns[name] = _named(values, class_names) if column == "label" else values
        tables.append(pa.table(columns))
    if not tables:
        raise InputError(f"the run's splits {chosen_splits} hold no rows")
    table = pa.concat_tables(tables, promote_options="default")
    _write_whole(table, out, kind)
    return ExportSummary(path=out, n_rows=table.num_rows, columns=tuple(table.column_names), splits=tuple(chosen_splits))


def _write_whole(table: pa.Table, out: str, kind: str) -> None:
    """Write to a temporary file beside ``out``, then rename it: a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".export-", dir=folder)
    os.close(handle)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, temporary)
        elif kind == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, temporary)
        else:
            import json

            with open(temporary, "w", encoding="utf-8") as stream:
                for row in table.to_pylist():
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
