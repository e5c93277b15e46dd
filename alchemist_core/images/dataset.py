"""Ingest images: a class-per-folder tree or a table of image bytes, paths or URLs, into Parquet shards.

Sources
-------
* **A folder.** ``root/<class>/*.png`` (labeled: the folder names are the classes), or
  ``root/*.png`` (unlabeled). When every top-level folder is a split name (``train``,
  ``valid``, ``val``, ``validation``, ``test``), each holds one split laid out the same way:
  ``root/train/<class>/*.jpg``. Files with other suffixes are ignored.
* **A table** (``.csv``, ``.jsonl`` or ``.parquet``, local or any fsspec URL). Its
  ``image_field`` holds image bytes, a path or URL (relative paths are read from the table's
  own folder), or a Hugging Face ``{"bytes", "path"}`` struct. Optional columns: gold labels
  (``label_field``), row ids (``id_field``), splits (``split_field``) and a group attribute
  (``group_field``, e.g. Waterbirds' ``place``).

Every image is read and fully decoded once. An image that cannot be read (a missing file or
URL), is empty, cannot be decoded (corrupt or truncated) or is a decompression bomb is
skipped, and counted per split and reason in ``images.json`` and in the log; a dataset
where nothing is left is an error.

The dataset folder has the layout of :mod:`alchemist_core.data.ingest`, so gold labels, shard
plans and the label-model tasks work on it unchanged::

    dataset.json                 the DatasetManifest (format "images"), written last
    images.json                  ImageDatasetInfo: storage mode, groups, skipped images
    shards/<split>/shard-00000.parquet
                                 row_id, then ``image`` (the bytes) or ``uri`` (where to read them)
    gold/<split>.parquet         row_id, label (int64, -1 unknown), group (string or null)

The group attribute sits with the gold labels, not in the shards: like the labels it is for
evaluation only (per-group and worst-group accuracy), and nothing that trains or votes may
condition on it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from alchemist_core.data.ingest import (
    MANIFEST_FILE,
    ROW_ID,
    DatasetManifest,
    SplitInfo,
    load_dataset_manifest,
)
from alchemist_core.data.storage import Storage
from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError, StorageError

logger = logging.getLogger(__name__)

INFO_FILE = "images.json"
IMAGE_FORMAT = "images"
IMAGE_COLUMN = "image"
URI_COLUMN = "uri"
STORE_MODES = ("bytes", "uri")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLIT_FOLDERS = ("train", "valid", "val", "validation", "test")
SKIP_REASONS = ("missing", "empty", "corrupt", "too_large")
MAX_SKIPPED_LISTED = 50

_LAYOUT_VERSION = 1
_TABLE_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INTEGER = re.compile(r"^-?[0-9]+$")


# -- what an ingest records beyond the DatasetManifest ------------------------------------------


@dataclass(frozen=True)
class SkippedImage:
    """One image that was left out: its split, where it came from, and why."""

    split: str
    where: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class ImageDatasetInfo:
    """What ``images.json`` holds.

    Parameters
    ----------
    image_column : {"image", "uri"}
        The shard column with the image: its bytes, or the URI to read them from.
    n_skipped : mapping of str to mapping of str to int
        Split -> reason (``missing``, ``empty``, ``corrupt``, ``too_large``) -> images skipped.
    skipped : tuple of SkippedImage
        The first :data:`MAX_SKIPPED_LISTED` skipped images, in source order.
    group_field : str or None
        The source column of the group attribute, where one was given.
    groups : tuple of str
        The group attribute's values, sorted.
    """

    image_column: str
    n_skipped: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    skipped: tuple[SkippedImage, ...] = ()
    group_field: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def total_skipped(self) -> int:
        return sum(sum(reasons.values()) for reasons in self.n_skipped.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "image_column": self.image_column,
            "n_skipped": {split: dict(reasons) for split, reasons in self.n_skipped.items()},
            "total_skipped": self.total_skipped,
            "skipped": [vars(s) for s in self.skipped],
            "group_field": self.group_field,
            "groups": list(self.groups),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageDatasetInfo":
        return cls(
            image_column=str(data["image_column"]),
            n_skipped={str(s): {str(r): int(n) for r, n in reasons.items()} for s, reasons in data["n_skipped"].items()},
            skipped=tuple(SkippedImage(**entry) for entry in data.get("skipped", [])),
            group_field=data.get("group_field"),
            groups=tuple(data.get("groups", [])),
        )


@dataclass(frozen=True)
class ImageDataset:
    """An ingested image dataset: the shared :class:`DatasetManifest` plus :class:`ImageDatasetInfo`."""

    manifest: DatasetManifest
    info: ImageDatasetInfo

    def to_json(self) -> dict[str, Any]:
        return {"manifest": self.manifest.to_json(), "info": self.info.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageDataset":
        return cls(DatasetManifest.from_json(data["manifest"]), ImageDatasetInfo.from_json(data["info"]))


# -- decoding --------------------------------------------------------------------------------


class ImageDecodeError(InputError):
    """Bytes that are not a readable image; ``reason`` is one of :data:`SKIP_REASONS`."""

    # NB: a default for reason keeps the exception picklable (it is rebuilt from its message).
    def __init__(self, message: str, reason: str = "corrupt"):
        super().__init__(message)
        self.reason = reason


def decode_image(data: bytes | None) -> Any:
    """Decode image bytes fully and return an RGB ``PIL.Image.Image``.

    Parameters
    ----------
    data : bytes or None

    Returns
    -------
    PIL.Image.Image
        In mode ``RGB``.

    Raises
    ------
    ImageDecodeError
        With ``reason`` ``"empty"`` (no bytes), ``"too_large"`` (more pixels than
        ``PIL.Image.MAX_IMAGE_PIXELS`` allows) or ``"corrupt"`` (not an image PIL can decode,
        or truncated).

    Examples
    --------
    >>> from PIL import Image
    >>> buffer = io.BytesIO(); Image.new("L", (4, 3)).save(buffer, format="PNG")
    >>> decode_image(buffer.getvalue()).size, decode_image(buffer.getvalue()).mode
    ((4, 3), 'RGB')
    >>> decode_image(b"not an image")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    alchemist_core.images.dataset.ImageDecodeError: cannot decode the image: ...
    """
    from PIL import Image

    if not data:
        raise ImageDecodeError("expected image bytes, got none", "empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.convert("RGB")
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(f"the image is too large to decode safely: {error}", "too_large") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError(f"cannot decode the image: {type(error).__name__}: {error}", "corrupt") from None


def read_uri_bytes(uri: str, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """The bytes behind a local path or fsspec URL; :class:`InputError` when it cannot be read."""
    try:
        with fsspec.open(uri, "rb", **dict(storage_options or {})) as handle:
            return handle.read()
    except (OSError, ValueError, ImportError) as error:
        raise InputError(f"cannot read the image at {uri}: {type(error).__name__}: {error}") from None


def load_images(table: pa.Table, storage_options: Mapping[str, Any] | None = None) -> list[Any]:
    """The images of one shard as RGB ``PIL`` images, in row order.

    Parameters
    ----------
    table : pyarrow.Table
        A shard written by :func:`ingest_images`: an ``image`` (bytes) or ``uri`` column.
    storage_options : mapping, optional
        fsspec options for reading ``uri`` values.

    Raises
    ------
    InputError
        When the table has neither column, or an image that decoded at ingest no longer does
        (a file behind a URI changed or went away since).
    """
    if IMAGE_COLUMN in table.column_names:
        values = table.column(IMAGE_COLUMN).to_pylist()
        sources = ["row %d" % i for i in range(len(values))]
    elif URI_COLUMN in table.column_names:
        sources = table.column(URI_COLUMN).to_pylist()
        values = [read_uri_bytes(uri, storage_options) for uri in sources]
    else:
        raise InputError(
            f"expected an image shard with an {IMAGE_COLUMN!r} or {URI_COLUMN!r} column, got {table.column_names}"
        )
    row_ids = table.column(ROW_ID).to_pylist() if ROW_ID in table.column_names else sources
    images = []
    for row_id, data in zip(row_ids, values):
        try:
            images.append(decode_image(data))
        except ImageDecodeError as error:
            raise InputError(f"image {row_id!r} decoded at ingest but not now: {error}") from None
    return images


# -- reading sources -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    image_field: str
    label_field: str | None
    id_field: str | None
    split_field: str | None
    group_field: str | None
    class_names: tuple[str, ...] | None
    store: str
    shard_rows: int

    def as_json(self) -> dict[str, Any]:
        return {
            "image_field": self.image_field,
            "label_field": self.label_field,
            "id_field": self.id_field,
            "split_field": self.split_field,
            "group_field": self.group_field,
            "class_names": None if self.class_names is None else list(self.class_names),
            "store": self.store,
            "shard_rows": self.shard_rows,
        }


@dataclass
class _Item:
    """One source image before it is read: where it is, or its bytes."""

    split: str
    row_id: str
    label: str | None
    group: str | None
    where: str  # a path or URL, or a description for bytes held in a table
    data: bytes | None = None  # bytes from a table; None means "read ``where``"
    is_uri: bool = True


def _check_options(
    image_field: str,
    label_field: str | None,
    id_field: str | None,
    split_field: str | None,
    group_field: str | None,
    class_names: Sequence[str] | None,
    store: str,
    shard_rows: int,
) -> _Options:
    if store not in STORE_MODES:
        raise InputError(f"store must be one of {list(STORE_MODES)}, got {store!r}")
    if not isinstance(shard_rows, int) or isinstance(shard_rows, bool) or shard_rows < 1:
        raise InputError(f"shard_rows must be a positive int, got {shard_rows!r}")
    named = [("image_field", image_field), ("label_field", label_field), ("id_field", id_field),
             ("split_field", split_field), ("group_field", group_field)]  # fmt: skip
    given = [(role, name) for role, name in named if name is not None]
    names = [name for _, name in given]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"each column can play one role only, but {repeated} is given for several of {given}")
    if class_names is not None:
        class_names = tuple(str(c) for c in class_names)
        if len(set(class_names)) != len(class_names) or len(class_names) < 2:
            raise InputError(f"class_names must be at least two unique names, got {list(class_names)}")
    return _Options(image_field, label_field, id_field, split_field, group_field, class_names, store, shard_rows)


def _suffix(path: str) -> str:
    base = posixpath.basename(path.rstrip("/"))
    return base[base.rfind(".") :].lower() if "." in base else ""


def _open_source(source: str, storage_options: Mapping[str, Any] | None) -> tuple[fsspec.AbstractFileSystem, str, bool]:
    try:
        fs, path = fsspec.core.url_to_fs(str(source), **dict(storage_options or {}))
        is_dir = fs.isdir(path)
        exists = is_dir or fs.exists(path)
    except (OSError, ValueError, ImportError) as error:
        raise InputError(f"cannot reach {source}: {error}; expected a readable local path or fsspec URL") from None
    if not exists:
        raise InputError(f"expected an image folder or a table of images at {source}, but nothing is there")
    return fs, path, is_dir


def _full_uri(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A URI that ``fsspec.open`` reads without the filesystem object at hand."""
    return fs.unstrip_protocol(path) if not isinstance(fs, LocalFileSystem) else path


def _folder_items(fs: fsspec.AbstractFileSystem, path: str, options: _Options, source: str) -> list[_Item]:
    if options.id_field or options.split_field or options.group_field:
        raise InputError(
            "id_field, split_field and group_field apply to a table of images; in a folder the file paths are the "
            "ids and split folders are the splits (give a CSV or Parquet table to add groups)"
        )
    root = path.rstrip("/")
    files = sorted(str(p) for p in fs.find(root) if _suffix(str(p)) in IMAGE_SUFFIXES)
    files = [f for f in files if not any(part.startswith(".") for part in f[len(root) + 1 :].split("/"))]
    if not files:
        raise InputError(
            f"found no image files ({', '.join(IMAGE_SUFFIXES)}) under {source}; expected root/<class>/<image> "
            "or root/<image>"
        )
    relative = [f[len(root) + 1 :] for f in files]
    top = {r.split("/", 1)[0] for r in relative if "/" in r}
    loose_top = [r for r in relative if "/" not in r]
    by_split = bool(top) and top <= set(SPLIT_FOLDERS) and not loose_top
    items = []
    depths = Counter()
    for full, rel in zip(files, relative):
        parts = rel.split("/")
        split = parts[0] if by_split else "train"
        inner = parts[1:] if by_split else parts
        depths[len(inner)] += 1
        label = inner[0] if len(inner) == 2 else None
        items.append(_Item(split, rel, label, None, _full_uri(fs, full)))
    if len(depths) > 1 or max(depths) > 2:
        layout = "root/<split>/<class>/<image>" if by_split else "root/<class>/<image>"
        raise InputError(
            f"{source} mixes image depths {sorted(depths)}; expected {layout} (labeled) or images directly in "
            "the root or split folders (unlabeled), not both"
        )
    if options.label_field is None:
        for item in items:
            item.label = None
    return items


def _read_table(fs: fsspec.AbstractFileSystem, path: str, kind: str, columns: list[str], source: str) -> Iterator[pa.Table]:
    try:
        if kind == "parquet":
            parquet = pq.ParquetFile(fs.open(path, "rb"))
            missing = [c for c in columns if c not in parquet.schema_arrow.names]
            if missing:
                raise InputError(f"{source} has no column {missing}; its columns are {parquet.schema_arrow.names}")
            for batch in parquet.iter_batches(batch_size=1024, columns=columns):
                yield pa.Table.from_batches([batch])
            return
        import pandas as pd

        with fs.open(path, "rb") as handle:
            if kind == "csv":
                frame = pd.read_csv(handle, dtype=str, keep_default_na=False, na_values=[""])
            else:
                frame = pd.read_json(handle, lines=True, dtype=False)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"{source} has no column {missing}; its columns are {[str(c) for c in frame.columns]}")
        yield pa.Table.from_pandas(frame[columns], preserve_index=False)
    except (pa.ArrowInvalid, OSError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"{source} is not a readable {kind} table: {error}") from None


def _as_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _resolve_path(value: str, base: str, fs: fsspec.AbstractFileSystem) -> str:
    if "://" in value or value.startswith("/"):
        return value
    if isinstance(fs, LocalFileSystem):
        return os.path.join(base, value)
    return fs.unstrip_protocol(posixpath.join(base, value))


def _table_items(fs: fsspec.AbstractFileSystem, path: str, kind: str, options: _Options, source: str) -> list[_Item]:
    columns = [options.image_field]
    columns += [c for c in (options.label_field, options.id_field, options.split_field, options.group_field) if c]
    base = os.path.dirname(path) if isinstance(fs, LocalFileSystem) else posixpath.dirname(path)
    items: list[_Item] = []
    positions: Counter = Counter()
    for table in _read_table(fs, path, kind, columns, source):
        rows = table.to_pylist()
        for row in rows:
            split = "train"
            if options.split_field:
                split = _as_text(row[options.split_field])
                if split is None or not _SPLIT_NAME.match(split):
                    raise InputError(
                        f"split_field {options.split_field!r} holds {row[options.split_field]!r}; expected split names "
                        "of letters, digits, '_' or '-' (e.g. train, valid, test) on every row"
                    )
            position = positions[split]
            positions[split] += 1
            row_id = f"{split}:{position}"
            if options.id_field:
                row_id = _as_text(row[options.id_field])
                if row_id is None:
                    raise InputError(f"id_field {options.id_field!r} is empty on row {position} of split {split!r}")
            label = _as_text(row[options.label_field]) if options.label_field else None
            group = _as_text(row[options.group_field]) if options.group_field else None
            value = row[options.image_field]
            if isinstance(value, dict):  # a Hugging Face Image struct
                value = value.get("bytes") or value.get("path")
            if isinstance(value, (bytes, bytearray)):
                items.append(_Item(split, row_id, label, group, f"{options.image_field} of row {row_id}", bytes(value), False))
            elif isinstance(value, str) and value.strip():
                items.append(_Item(split, row_id, label, group, _resolve_path(value.strip(), base, fs)))
            else:
                items.append(_Item(split, row_id, label, group, f"{options.image_field} of row {row_id}", b"", False))
    if not items:
        raise InputError(f"{source} holds no rows; expected one row per image")
    return items


def _items(source: str, options: _Options, storage_options: Mapping[str, Any] | None) -> tuple[list[_Item], str]:
    fs, path, is_dir = _open_source(source, storage_options)
    if is_dir:
        return _folder_items(fs, path, options, source), "folder"
    kind = _TABLE_SUFFIXES.get(_suffix(path))
    if kind is None:
        raise InputError(
            f"cannot tell what {source} is from its suffix {_suffix(path)!r}; expected an image folder or a "
            f"table of images ({', '.join(sorted(_TABLE_SUFFIXES))})"
        )
    return _table_items(fs, path, kind, options, source), kind


def _fetch(item: _Item, storage_options: Mapping[str, Any] | None) -> tuple[bytes | None, str | None, str]:
    """(bytes, skip reason or None, detail) of one item."""
    if not item.is_uri:
        return item.data, (None if item.data else "empty"), ("" if item.data else "no image bytes in the table")
    try:
        data = read_uri_bytes(item.where, storage_options)
    except InputError as error:
        return None, "missing", str(error)
    return data, (None if data else "empty"), ("" if data else "the file is empty")


def _check_ids(items: Sequence[_Item]) -> None:
    counts = Counter(item.row_id for item in items)
    repeated = [f"{row_id!r} ({n}x)" for row_id, n in counts.items() if n > 1]
    if repeated:
        raise InputError(f"row ids must be unique, but {len(repeated)} repeat, e.g. {', '.join(repeated[:5])}")


def _label_codes(
    labels: Sequence[str | None], class_names: tuple[str, ...] | None, label_field: str | None
) -> tuple[dict[str, int], tuple[str, ...] | None]:
    """Map raw label strings to class indices; infer class names where none were given."""
    values = sorted({label for label in labels if label is not None})
    if not values:
        return {}, class_names
    where = f"label_field {label_field!r}" if label_field and label_field != "label" else "the labels"
    if class_names is not None:
        mapping = {}
        unknown = []
        for value in values:
            if value in class_names:
                mapping[value] = class_names.index(value)
            elif _INTEGER.match(value) and -1 <= int(value) < len(class_names):
                mapping[value] = int(value)
            else:
                unknown.append(value)
        if unknown:
            raise InputError(
                f"{where} hold {len(unknown)} values that are not classes, e.g. {unknown[:10]}; "
                f"expected one of the class names {list(class_names)} or an index 0..{len(class_names) - 1}"
            )
        return mapping, class_names
    names = [v for v in values if not _INTEGER.match(v)]
    indices = [v for v in values if _INTEGER.match(v)]
    if names and indices:
        raise InputError(
            f"{where} mix class names {names[:5]} and class indices {indices[:5]}; expected one or the other "
            "(pass class_names to map names to indices)"
        )
    if names:
        logger.info("no class_names given: using the sorted label values %s", names)
        return {name: i for i, name in enumerate(names)}, tuple(names)
    if any(int(v) < -1 for v in indices):
        raise InputError(f"{where} hold negative indices {indices[:5]}; expected 0..k-1, or -1 for no label")
    return {v: int(v) for v in indices}, None


# -- the public functions --------------------------------------------------------------------


def image_dataset_digest(
    source: str,
    *,
    image_field: str = IMAGE_COLUMN,
    label_field: str | None = "label",
    id_field: str | None = None,
    split_field: str | None = None,
    group_field: str | None = None,
    class_names: Sequence[str] | None = None,
    store: str = "bytes",
    shard_rows: int = 1000,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """The digest :func:`ingest_images` would give, without writing anything.

    It covers every image's bytes (an unreadable one by its skip reason), labels, groups, ids
    and the options, so the dataset folder ``datasets/<digest[:16]>`` can be chosen before
    ingesting. Parameters are those of :func:`ingest_images`.
    """
    options = _check_options(image_field, label_field, id_field, split_field, group_field, class_names, store, shard_rows)
    items, kind = _items(source, options, storage_options)
    return _digest(items, kind, options, storage_options)


def _digest(items: Sequence[_Item], kind: str, options: _Options, storage_options: Mapping[str, Any] | None) -> str:
    entries = []
    for item in items:
        data, reason, _ = _fetch(item, storage_options)
        content = hashlib.sha256(data).hexdigest() if reason is None and data is not None else reason
        entries.append([item.split, item.row_id, item.label, item.group, content])
    return digest_json({"layout_version": _LAYOUT_VERSION, "format": IMAGE_FORMAT, "kind": kind,
                        "options": options.as_json(), "items": entries})  # fmt: skip


def ingest_images(
    source: str,
    storage: Storage,
    *,
    image_field: str = IMAGE_COLUMN,
    label_field: str | None = "label",
    id_field: str | None = None,
    split_field: str | None = None,
    group_field: str | None = None,
    class_names: Sequence[str] | None = None,
    store: str = "bytes",
    shard_rows: int = 1000,
    storage_options: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> ImageDataset:
    """Read images and write them as Parquet shards plus gold labels and groups under ``storage``.

    Parameters
    ----------
    source : str
        A folder of images (``root/<class>/*``, ``root/*`` or ``root/<split>/<class>/*``) or a
        ``.csv``, ``.jsonl`` or ``.parquet`` table of images, local or an fsspec URL.
    storage : Storage
        The dataset folder; ``shards/``, ``gold/``, ``images.json`` and ``dataset.json`` under
        it are replaced.
    image_field : str
        The table column holding image bytes, a path or URL (relative to the table's folder),
        or a ``{"bytes", "path"}`` struct. Not used for folders.
    label_field : str or None
        The table column of gold labels (class names or indices); for a folder, anything but
        ``None`` reads the class folders as labels. ``None`` ingests without gold labels.
    id_field, split_field, group_field : str or None
        Table columns of unique row ids (else ``"<split>:<position>"``), split names (else
        every row is in ``train``) and a group attribute (for per-group metrics).
    class_names : sequence of str or None
        Class names in index order (from the task spec). Without them, folder names and
        label names are sorted and integer labels are taken as indices.
    store : {"bytes", "uri"}
        Keep each image's bytes in the shards (self-contained, the default), or only its URI
        (small shards; the images are read again when features are computed). ``"uri"``
        needs paths or URLs, not bytes in a table.
    shard_rows : int
        Images per shard.
    storage_options : mapping, optional
        fsspec options for reading ``source`` and the images.
    name : str, optional
        A readable name; by default the source's folder or file name.

    Returns
    -------
    ImageDataset
        When ``dataset.json`` already records the same digest, nothing is rewritten.

    Raises
    ------
    InputError
        When the source cannot be read or is not what was expected (no images, a missing
        column, labels that are not classes, repeated ids, mixed folder depths), or when no
        image is usable. Unusable images alone are skipped and counted, not errors.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from alchemist_core.data.storage import open_storage
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
    ...     (folder / "src" / name).mkdir(parents=True)
    ...     Image.new("RGB", (8, 8), colour).save(folder / "src" / name / "a.png")
    >>> _ = (folder / "src" / "red" / "broken.png").write_bytes(b"not a png")
    >>> dataset = ingest_images(str(folder / "src"), open_storage(str(folder / "ds")))
    >>> dataset.manifest.class_names, dataset.manifest.splits["train"].n_rows, dataset.info.n_skipped
    (('blue', 'red'), 2, {'train': {'corrupt': 1}})
    """
    started = time.perf_counter()
    options = _check_options(image_field, label_field, id_field, split_field, group_field, class_names, store, shard_rows)
    items, kind = _items(source, options, storage_options)
    _check_ids(items)
    if store == "uri" and any(not item.is_uri for item in items):
        raise InputError(
            f"store='uri' keeps only where each image is, but {image_field!r} holds image bytes; use store='bytes'"
        )
    digest = _digest(items, kind, options, storage_options)
    name = name or posixpath.basename(str(source).rstrip("/")).rsplit(".", 1)[0] or "images"
    existing = _existing(storage, digest)
    if existing is not None:
        logger.info("image dataset %s (%s) is already ingested at %s", name, digest[:12], storage.root)
        return existing

    for part in (MANIFEST_FILE, INFO_FILE, "shards", "gold"):
        storage.delete(part)
    try:
        dataset = _write(items, storage, options, digest, name, str(source), storage_options)
    except BaseException:
        for part in ("shards", "gold", INFO_FILE):
            try:
                storage.delete(part)
            except OSError:
                logger.warning("could not remove the partial %s under %s", part, storage.root)
        raise
    storage.write_json(dataset.info.to_json(), INFO_FILE)
    storage.write_json(dataset.manifest.to_json(), MANIFEST_FILE)
    counts = {split: info.n_rows for split, info in dataset.manifest.splits.items()}
    logger.info(
        "ingested %s: %d images in %s in %.1f s (digest %s)", name, dataset.manifest.n_rows, counts,
        time.perf_counter() - started, digest[:12],
    )  # fmt: skip
    if dataset.info.total_skipped:
        logger.warning(
            "%s: skipped %d unusable images %s; see %s", name, dataset.info.total_skipped,
            {s: dict(r) for s, r in dataset.info.n_skipped.items()}, storage.uri(INFO_FILE),
        )  # fmt: skip
    return dataset


def _existing(storage: Storage, digest: str) -> ImageDataset | None:
    if not (storage.exists(MANIFEST_FILE) and storage.exists(INFO_FILE)):
        return None
    try:
        dataset = load_image_dataset(storage)
    except (StorageError, InputError, KeyError, TypeError, ValueError):
        return None
    if dataset.manifest.digest != digest:
        return None
    if not all(storage.exists(s) for info in dataset.manifest.splits.values() for s in info.shards):
        return None
    return dataset


class _SplitWriter:
    """Buffers one split's usable images and writes a shard every ``shard_rows``."""

    def __init__(self, storage: Storage, split: str, options: _Options):
        self.storage = storage
        self.split = split
        self.options = options
        self.column = IMAGE_COLUMN if options.store == "bytes" else URI_COLUMN
        self.pending_ids: list[str] = []
        self.pending_values: list[Any] = []
        self.ids: list[str] = []
        self.labels: list[str | None] = []
        self.groups: list[str | None] = []
        self.shards: list[str] = []
        self.shard_digests: list[str] = []

    def add(self, item: _Item, data: bytes) -> None:
        self.pending_ids.append(item.row_id)
        self.pending_values.append(data if self.options.store == "bytes" else item.where)
        self.ids.append(item.row_id)
        self.labels.append(item.label)
        self.groups.append(item.group)
        if len(self.pending_ids) >= self.options.shard_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending_ids:
            return
        kind = pa.binary() if self.column == IMAGE_COLUMN else pa.string()
        table = pa.table({ROW_ID: pa.array(self.pending_ids, pa.string()), self.column: pa.array(self.pending_values, kind)})
        relative = f"shards/{self.split}/shard-{len(self.shards):05d}.parquet"
        self.shard_digests.append(_write_parquet(self.storage, table, relative))
        self.shards.append(relative)
        self.pending_ids, self.pending_values = [], []


def _write_parquet(storage: Storage, table: pa.Table, relative: str) -> str:
    buffer = io.BytesIO()
    # Image bytes are already compressed: zstd would spend time for nothing.
    compression = "none" if IMAGE_COLUMN in table.column_names else "zstd"
    pq.write_table(table, buffer, compression=compression)
    data = buffer.getvalue()
    storage.write_bytes(data, relative)
    return hashlib.sha256(data).hexdigest()


def _write(
    items: Sequence[_Item],
    storage: Storage,
    options: _Options,
    digest: str,
    name: str,
    source: str,
    storage_options: Mapping[str, Any] | None,
) -> ImageDataset:
    writers: dict[str, _SplitWriter] = {}
    n_skipped: dict[str, Counter] = {}
    skipped: list[SkippedImage] = []
    for item in items:
        writer = writers.setdefault(item.split, _SplitWriter(storage, item.split, options))
        data, reason, detail = _fetch(item, storage_options)
        if reason is None:
            try:
                decode_image(data)
            except ImageDecodeError as error:
                reason, detail = error.reason, str(error)
        if reason is not None:
            n_skipped.setdefault(item.split, Counter())[reason] += 1
            if len(skipped) < MAX_SKIPPED_LISTED:
                skipped.append(SkippedImage(item.split, item.where if item.is_uri else item.row_id, reason, detail[:300]))
            continue
        writer.add(item, data)
    for writer in writers.values():
        writer.flush()
    n_rows = sum(len(w.ids) for w in writers.values())
    total_skipped = sum(sum(c.values()) for c in n_skipped.values())
    if n_rows == 0:
        first = f"; first: {skipped[0].where}: {skipped[0].detail}" if skipped else ""
        raise InputError(f"none of the {total_skipped} images of {source} could be used {_plain(n_skipped)}{first}")

    labels = [label for w in writers.values() for label in w.labels]
    mapping, class_names = _label_codes(labels, options.class_names, options.label_field)
    splits: dict[str, SplitInfo] = {}
    for split, writer in writers.items():
        if not writer.ids:
            logger.warning("every image of the %s split was skipped; the split is left out", split)
            continue
        gold = np.asarray([mapping.get(label, -1) if label is not None else -1 for label in writer.labels], dtype=np.int64)
        table = pa.table({
            ROW_ID: pa.array(writer.ids, pa.string()),
            "label": pa.array(gold, pa.int64()),
            "group": pa.array(writer.groups, pa.string()),
        })  # fmt: skip
        storage.write_table(table, "gold", f"{split}.parquet")
        n_gold = int((gold >= 0).sum())
        splits[split] = SplitInfo(
            n_rows=len(writer.ids),
            shards=tuple(writer.shards),
            shard_digests=tuple(writer.shard_digests),
            has_gold=n_gold > 0,
            n_gold=n_gold,
        )
    column = IMAGE_COLUMN if options.store == "bytes" else URI_COLUMN
    groups = sorted({g for w in writers.values() for g in w.groups if g is not None})
    info = ImageDatasetInfo(
        image_column=column,
        n_skipped={split: dict(sorted(counts.items())) for split, counts in n_skipped.items()},
        skipped=tuple(skipped),
        group_field=options.group_field,
        groups=tuple(groups),
    )
    manifest = DatasetManifest(name, digest, (column,), splits, class_names, source, IMAGE_FORMAT)
    return ImageDataset(manifest, info)


def _plain(n_skipped: Mapping[str, Counter]) -> str:
    return str({split: dict(counts) for split, counts in n_skipped.items()})


def load_image_dataset(storage: Storage) -> ImageDataset:
    """Read ``dataset.json`` and ``images.json`` from a folder written by :func:`ingest_images`."""
    manifest = load_dataset_manifest(storage)
    if manifest.format != IMAGE_FORMAT:
        raise InputError(
            f"the dataset at {storage.root} holds {manifest.format!r} data, expected images; ingest it with ingest_images"
        )
    return ImageDataset(manifest, ImageDatasetInfo.from_json(storage.read_json(INFO_FILE)))


def read_groups(storage: Storage, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and group attributes of a split (object arrays; ``None`` where unknown)."""
    if not _SPLIT_NAME.match(split):
        raise InputError(f"split names are letters, digits, '_' or '-'; got {split!r}")
    table = storage.read_table(f"gold/{split}.parquet")
    row_ids = table.column(ROW_ID).to_numpy(zero_copy_only=False)
    if "group" not in table.column_names:
        return row_ids, np.full(len(row_ids), None, dtype=object)
    return row_ids, np.asarray(table.column("group").to_pylist(), dtype=object)
