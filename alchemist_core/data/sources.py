"""Where an ingest reads from: the checked options, the opened source and its digest.

:func:`_check_options` validates what a caller asked for and gives the frozen :class:`_Options`;
:func:`_open_source` reaches a local path or fsspec URL, works out its format (CSV, JSONL,
Parquet or a WRENCH folder) and lists the files it reads as a :class:`_Source`;
:func:`_digest` hashes those files' bytes (checking that text is UTF-8 on the way) together
with the options and the folder layout version, which is what makes a dataset folder
content-addressed. Nothing here reads rows (:mod:`alchemist_core.data.readers` does) or
writes anything (:mod:`alchemist_core.data.ingest` does); this module imports neither.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from typing import Any, Sequence

import fsspec

from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError

FORMATS = ("csv", "jsonl", "parquet", "wrench")
WRENCH_SPLITS = ("train", "valid", "test")
ROW_ID = "row_id"

# Bumped whenever the folder layout changes, so that old folders get a different digest.
_LAYOUT_VERSION = 1
_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"
}
_READ_BLOCK = 1 << 22


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
