"""Content digests: the keys of caches, provenance and run manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return sha256_bytes(text.encode("utf-8"))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values give equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest_json(value: Any) -> str:
    """Digest of a JSON-serialisable value, independent of key order."""
    return sha256_text(canonical_json(value))


def combine(*parts: str) -> str:
    """One digest from several digests or strings (order matters)."""
    return digest_json(list(parts))


def code_digest(modules: Iterable[str]) -> str:
    """Digest of the source files of the named ``alchemist_core`` modules.

    Tasks pass it as an explicit cache-key input: Prefect's ``TASK_SOURCE`` policy hashes
    only a task's own body, so without it editing the core would not invalidate the cache.

    Examples
    --------
    >>> len(code_digest(["alchemist_core.digest"]))
    64
    """
    import importlib

    parts = []
    for name in sorted(set(modules)):
        module = importlib.import_module(name)
        path = Path(module.__file__ or "")
        parts.append(name + ":" + sha256_bytes(path.read_bytes()))
    return combine(*parts)
