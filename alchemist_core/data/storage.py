"""One code path for artifacts on a local folder or in object storage (``s3://``).

A :class:`Storage` is rooted at a URI. Every write is atomic: on a local folder the bytes go
to a temporary sibling that is renamed into place; on S3 an object becomes visible only when
its upload completes, so a failed or interrupted write never leaves a half artifact that a
later run would trust.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec

from alchemist_core.errors import StorageError


def _split_protocol(uri: str) -> tuple[str, str]:
    if "://" in uri:
        protocol, path = uri.split("://", 1)
        return protocol, path
    return "file", uri


@dataclass(frozen=True)
class Storage:
    """Artifacts under ``root`` (a local path, ``file://``, ``s3://bucket/prefix`` or ``memory://``).

    Endpoint, credentials and region for ``s3://`` come from the usual environment and
    configuration (``AWS_*`` variables, ``~/.aws``, ``AWS_ENDPOINT_URL`` or
    ``FSSPEC_S3_ENDPOINT_URL``); ``storage_options`` overrides them.
    """

    root: str
    storage_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        protocol, path = _split_protocol(self.root)
        if protocol == "file":
            object.__setattr__(self, "root", os.path.abspath(os.path.expanduser(path)))
        else:
            object.__setattr__(self, "root", f"{protocol}://{path.rstrip('/')}")

    # -- locations ---------------------------------------------------------------------------
    @property
    def protocol(self) -> str:
        return _split_protocol(self.root)[0]

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return _filesystem(self.protocol, self.storage_options)

    def uri(self, *parts: str) -> str:
        """The URI of ``parts`` under the root."""
        clean = [p.strip("/") for p in parts if p]
        if self.is_local:
            return os.path.join(self.root, *clean)
        return posixpath.join(self.root, *clean)

    def child(self, *parts: str) -> "Storage":
        """A storage rooted at ``parts`` under this root."""
        return Storage(self.uri(*parts), self.storage_options)

    # -- reads -------------------------------------------------------------------------------
    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.uri(*parts))

    def read_bytes(self, *parts: str) -> bytes:
        uri = self.uri(*parts)
        try:
            with self.fs.open(uri, "rb") as handle:
                return handle.read()
        except FileNotFoundError as error:
            raise StorageError(f"expected an artifact at {uri}, found none") from error
        except OSError as error:
            raise StorageError(f"could not read {uri}: {error}") from error

    def read_text(self, *parts: str) -> str:
        return self.read_bytes(*parts).decode("utf-8")

    def read_json(self, *parts: str) -> Any:
        return json.loads(self.read_text(*parts))

    def list(self, *parts: str, suffix: str = "") -> list[str]:
        """Names (not URIs) of the files directly under ``parts``, sorted."""
        uri = self.uri(*parts)
        try:
            entries = self.fs.ls(uri, detail=False)
        except FileNotFoundError:
            return []
        names = sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)
        return [n for n in names if n.endswith(suffix) and not n.startswith(".tmp-")]

    # -- writes ------------------------------------------------------------------------------
    def write_bytes(self, data: bytes, *parts: str) -> str:
        """Write ``data`` atomically at ``parts``; returns its URI."""
        uri = self.uri(*parts)
        try:
            if self.is_local:
                directory = os.path.dirname(uri)
                os.makedirs(directory, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(data)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.replace(tmp, uri)
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
            else:
                # One PUT: the object appears whole or not at all.
                self.fs.pipe_file(uri, data)
        except OSError as error:
            raise StorageError(f"could not write {uri}: {error}") from error
        return uri

    def write_text(self, text: str, *parts: str) -> str:
        return self.write_bytes(text.encode("utf-8"), *parts)

    def write_json(self, value: Any, *parts: str) -> str:
        return self.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", *parts)

    def append_line(self, line: str, *parts: str) -> str:
        """Append one line to a text artifact (read, extend, atomic rewrite)."""
        existing = self.read_text(*parts) if self.exists(*parts) else ""
        return self.write_text(existing + line.rstrip("\n") + "\n", *parts)

    def delete(self, *parts: str) -> None:
        uri = self.uri(*parts)
        if self.fs.exists(uri):
            self.fs.rm(uri, recursive=True)

    # -- tables ------------------------------------------------------------------------------
    def write_table(self, table: Any, *parts: str) -> str:
        """Write a ``pyarrow.Table`` as Parquet, atomically."""
        return self.write_bytes(parquet_bytes(table), *parts)

    def read_table(self, *parts: str, columns: list[str] | None = None) -> Any:
        """Read a Parquet artifact as a ``pyarrow.Table``."""
        import pyarrow.parquet as pq

        uri = self.uri(*parts)
        try:
            with self.fs.open(uri, "rb") as handle:
                return pq.read_table(handle, columns=columns)
        except FileNotFoundError as error:
            raise StorageError(f"expected a Parquet artifact at {uri}, found none") from error
        except OSError as error:
            raise StorageError(f"could not read Parquet at {uri}: {error}") from error

    def parquet_rows(self, *parts: str) -> int:
        """The number of rows of a Parquet artifact, from its footer (no data is read)."""
        import pyarrow.parquet as pq

        uri = self.uri(*parts)
        try:
            with self.fs.open(uri, "rb") as handle:
                return int(pq.ParquetFile(handle).metadata.num_rows)
        except FileNotFoundError as error:
            raise StorageError(f"expected a Parquet artifact at {uri}, found none") from error
        except OSError as error:
            raise StorageError(f"could not read Parquet at {uri}: {error}") from error

    def local_path(self, *parts: str) -> str:
        """A local path for ``parts``: the file itself when local, else a cached copy."""
        uri = self.uri(*parts)
        if self.is_local:
            return uri
        cache = os.path.join(tempfile.gettempdir(), "alchemist-cache", uuid.uuid5(uuid.NAMESPACE_URL, uri).hex)
        if not os.path.exists(cache):
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            data = self.read_bytes(*parts)
            tmp = cache + f".{os.getpid()}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, cache)
        return cache


def parquet_bytes(table: Any) -> bytes:
    """A ``pyarrow.Table`` as Parquet bytes; equal tables give equal bytes (a content digest can key them)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _filesystem(protocol: str, storage_options: tuple[tuple[str, Any], ...]) -> fsspec.AbstractFileSystem:
    options = dict(storage_options)
    if protocol == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint and "endpoint_url" not in options and "client_kwargs" not in options:
            options["endpoint_url"] = endpoint
        # Other processes (Dask workers, a resumed run) write under the same prefixes: a cached
        # listing would hide their objects, so every exists/list asks the store.
        options.setdefault("use_listings_cache", False)
    return fsspec.filesystem(protocol, **options)


def open_storage(root: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """A :class:`Storage` for ``root`` with optional fsspec ``storage_options``."""
    options = tuple(sorted((storage_options or {}).items()))
    return Storage(root, options)
