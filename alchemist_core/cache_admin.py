"""What the caches under a storage root hold, and pruning the entries nobody wrote recently.

Every cache area holds derived data that a run can make again:

``votes``
    ``cache/votes/<shard digest>/<key>.parquet``: one program's votes on one data shard;
``embeddings``
    ``cache/embeddings/``: sentence embeddings, by a digest of the encoder and the texts;
``clip``
    ``cache/clip/``: CLIP image embeddings and concept scores;
``results``
    ``prefect-results/``: Prefect's task results and cache records (a pruned record makes
    its task run again);
``llm``
    ``cache/llm/``: the LLM's replies, by a digest of the request.

Pruning removes the files of the chosen areas last written more than ``older_than`` ago; the
next run that needs one computes it again. ``llm`` is never pruned unless named: a reply
that is gone costs money to ask for again, and a new reply can differ, so a rerun would no
longer reproduce the run's programs. Run folders (``runs/``) and ingested datasets
(``datasets/``) are never touched. A cache entry is only ever replaced whole (writes are
atomic), and a missing entry is a miss, so pruning while a run reads the cache costs that run
a recomputation, not a wrong result. Leftover temporary files of interrupted writes
(``.tmp-*``) are pruned by the same rule.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError, StorageError

CACHE_AREAS: dict[str, tuple[str, ...]] = {
    "votes": ("cache", "votes"),
    "embeddings": ("cache", "embeddings"),
    "clip": ("cache", "clip"),
    "results": ("prefect-results",),
    "llm": ("cache", "llm"),
}
"""Each cache area and its folder under the storage root."""

DEFAULT_PRUNE_AREAS: tuple[str, ...] = ("votes", "embeddings", "clip", "results")
"""The areas pruned when none are named: all but the LLM replies."""

_DELETE_BATCH = 1000
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class CacheFile:
    """One file of a cache area."""

    path: str  # as the filesystem names it (no protocol)
    size: int
    modified: float | None  # seconds since the epoch; None when the store gives no time


@dataclass(frozen=True)
class AreaUsage:
    """What one cache area holds."""

    area: str
    uri: str
    n_files: int
    n_bytes: int
    oldest: float | None  # modification time of the oldest file, seconds since the epoch
    newest: float | None


@dataclass(frozen=True)
class AreaPrune:
    """What pruning did to (or, in a dry run, would do to) one cache area."""

    area: str
    uri: str
    n_files: int  # files found
    n_removed: int
    bytes_removed: int
    n_kept: int
    n_undated: int  # files kept because the store gave no modification time


@dataclass(frozen=True)
class PruneReport:
    """The outcome of :func:`prune_cache`."""

    root: str
    older_than_seconds: float
    cutoff: float  # files last written before this time (seconds since the epoch) were chosen
    dry_run: bool
    areas: tuple[AreaPrune, ...]

    @property
    def n_removed(self) -> int:
        return sum(area.n_removed for area in self.areas)

    @property
    def bytes_removed(self) -> int:
        return sum(area.bytes_removed for area in self.areas)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "older_than_seconds": self.older_than_seconds,
            "cutoff": datetime.fromtimestamp(self.cutoff, tz=timezone.utc).isoformat(),
            "dry_run": self.dry_run,
            "n_removed": self.n_removed,
            "bytes_removed": self.bytes_removed,
            "areas": [area.__dict__ for area in self.areas],
        }


def parse_age(text: str | int | float | timedelta) -> timedelta:
    """An age such as ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"`` or ``"2w"`` (a bare number is days).

    Raises
    ------
    InputError
        When ``text`` is not such an age, or is negative.
    """
    if isinstance(text, timedelta):
        age = text
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text):
            raise InputError(f"expected an age such as 30d, 12h or 90m, got {text!r}")
        age = timedelta(days=text)
    elif isinstance(text, str):
        stripped = text.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", stripped):
            stripped += "d"
        match = _AGE.match(stripped)
        if match is None:
            raise InputError(f"expected an age such as 30d, 12h, 90m, 45s or 2w (a bare number is days), got {text!r}")
        age = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    else:
        raise InputError(f"expected an age such as 30d, 12h or 90m, got a {type(text).__name__}")
    if age < timedelta(0):
        raise InputError(f"expected an age of zero or more, got {text!r}")
    return age


def check_areas(areas: Iterable[str] | None) -> tuple[str, ...]:
    """The areas named (the defaults when none), checked; in :data:`CACHE_AREAS` order."""
    if areas is None:
        return DEFAULT_PRUNE_AREAS
    names = [str(a).strip() for a in areas if str(a).strip()]
    unknown = sorted(set(names) - set(CACHE_AREAS))
    if unknown or not names:
        raise InputError(f"expected cache areas among {list(CACHE_AREAS)}, got {names or 'none'}")
    return tuple(area for area in CACHE_AREAS if area in names)


class PruneConfig(BaseModel):
    """What the ``prune-cache`` flow prunes: the parameters of its deployment and of the UI's form."""

    model_config = ConfigDict(extra="forbid")

    storage: str = Field("./alchemist-runs", description="Artifact root whose caches are pruned: a folder or s3://bucket/prefix")
    older_than: str = Field(
        "30d", description="Remove cache files last written longer ago than this: 30d, 12h, 90m, 45s, 2w; 0 removes all"
    )
    areas: list[str] | None = Field(
        None,
        description="Among votes, embeddings, clip, results, llm; all but llm when empty (pruned LLM replies cost money "
        "to ask again and may come back different)",
    )
    dry_run: bool = Field(False, description="Only count what would be removed")

    @field_validator("older_than")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value

    @field_validator("areas")
    @classmethod
    def _areas(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(check_areas(value))


def require_root(root: Storage) -> Storage:
    """``root`` itself, after checking that it exists (a mistyped ``--storage`` is an error, not an empty cache).

    Raises
    ------
    InputError
        When nothing exists at ``root``.
    """
    try:
        found = root.fs.exists(root.uri())
    except OSError as error:
        raise StorageError(f"could not reach the storage root {root.root}: {error}") from error
    if not found:
        raise InputError(
            f"expected a storage root (the --storage of earlier runs, with runs/ and cache/ in it) at {root.root}, found nothing"
        )
    return root


def cache_files(root: Storage, area: str) -> list[CacheFile]:
    """Every file of one cache area, sorted by path (empty when the area does not exist)."""
    uri = root.uri(*CACHE_AREAS[check_areas([area])[0]])
    fs = root.fs
    try:
        found = fs.find(uri, detail=True)
    except FileNotFoundError:
        return []
    except OSError as error:
        raise StorageError(f"could not list the cache at {uri}: {error}") from error
    files = []
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        files.append(CacheFile(path=path, size=int(info.get("size") or 0), modified=_modified(fs, path, info)))
    return sorted(files, key=lambda f: f.path)


def cache_usage(root: Storage) -> list[AreaUsage]:
    """Files, bytes and the oldest and newest write of every area."""
    require_root(root)
    usage = []
    for area in CACHE_AREAS:
        files = cache_files(root, area)
        times = [f.modified for f in files if f.modified is not None]
        usage.append(
            AreaUsage(
                area=area,
                uri=root.uri(*CACHE_AREAS[area]),
                n_files=len(files),
                n_bytes=sum(f.size for f in files),
                oldest=min(times) if times else None,
                newest=max(times) if times else None,
            )
        )
    return usage


def prune_cache(
    root: Storage,
    older_than: str | float | timedelta,
    *,
    areas: Sequence[str] | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Remove the files of ``areas`` last written more than ``older_than`` ago.

    Parameters
    ----------
    root : Storage
        The storage root (``--storage``): a local folder or ``s3://bucket/prefix``.
    older_than : str, number or timedelta
        Age of the files to remove (:func:`parse_age`): ``"30d"``, ``"12h"``; ``0`` removes
        every file of the areas.
    areas : sequence of str, optional
        Among :data:`CACHE_AREAS`; :data:`DEFAULT_PRUNE_AREAS` (all but ``llm``) by default.
    dry_run : bool
        Only count what would be removed.
    now : float, optional
        The current time in seconds since the epoch (for tests); the clock by default.

    Raises
    ------
    InputError
        On an unknown area or an age that is not one.
    StorageError
        When the store cannot be listed or a file cannot be removed.
    """
    age = parse_age(older_than)
    chosen = check_areas(areas)
    require_root(root)
    cutoff = (time.time() if now is None else now) - age.total_seconds()
    fs = root.fs
    results = []
    for area in chosen:
        files = cache_files(root, area)
        undated = [f for f in files if f.modified is None]
        stale = [f for f in files if f.modified is not None and f.modified <= cutoff]
        if stale and not dry_run:
            _remove(fs, [f.path for f in stale])
            if root.is_local:
                _remove_empty_folders(root.uri(*CACHE_AREAS[area]))
        results.append(
            AreaPrune(
                area=area,
                uri=root.uri(*CACHE_AREAS[area]),
                n_files=len(files),
                n_removed=len(stale),
                bytes_removed=sum(f.size for f in stale),
                n_kept=len(files) - len(stale),
                n_undated=len(undated),
            )
        )
    return PruneReport(
        root=root.root, older_than_seconds=age.total_seconds(), cutoff=cutoff, dry_run=dry_run, areas=tuple(results)
    )


def _modified(fs: Any, path: str, info: dict[str, Any]) -> float | None:
    """Seconds since the epoch of a file's last write, from its listing (or asked); None if unknown."""
    for key in ("mtime", "LastModified", "last_modified", "modified", "created"):
        value = info.get(key)
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
    try:
        return _seconds(fs.modified(path))
    except (NotImplementedError, OSError, AttributeError, ValueError):
        return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return _seconds(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _remove(fs: Any, paths: list[str]) -> None:
    for start in range(0, len(paths), _DELETE_BATCH):
        batch = paths[start : start + _DELETE_BATCH]
        try:
            fs.rm(batch)
        except FileNotFoundError:
            # Another prune (or a run replacing an entry) got there first: remove the rest one by one.
            for path in batch:
                try:
                    fs.rm_file(path)
                except FileNotFoundError:
                    continue
                except OSError as error:
                    raise StorageError(f"could not remove the cache file {path}: {error}") from error
        except OSError as error:
            raise StorageError(f"could not remove cache files under {os.path.dirname(batch[0])}: {error}") from error


def _remove_empty_folders(top: str) -> None:
    """Remove the folders under ``top`` (not ``top`` itself) that pruning left empty."""
    for folder, _, _ in os.walk(top, topdown=False):
        if os.path.abspath(folder) == os.path.abspath(top):
            continue
        try:
            os.rmdir(folder)
        except OSError:  # not empty (or already gone)
            continue
