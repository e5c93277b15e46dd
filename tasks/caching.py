"""Cache policy, result storage and retry rules shared by the tasks.

A task's cache key is its own source plus its inputs, where every *reference* (a mapping
with a content ``digest``: a dataset, a program set, a label model) counts by its digest and
location only. So a key changes when content changes (a data shard, a program, the spec, a
config section, the core code) and not when bookkeeping around it does (timings, a source
path, a generator's notes).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects

from alchemist_core.digest import code_digest
from alchemist_core.errors import InputError, ProgramError

RESULTS_FOLDER = "prefect-results"


def reference_identity(value: Any) -> Any:
    """What a cache key sees of a task input: references shrink to ``{"digest", "uri"}``.

    A reference is a mapping with a ``digest`` key, or a typed object with a ``digest``
    attribute (e.g. :class:`~alchemist_core.selection_rows.SelectionRows`).
    """
    if is_dataclass(value) and not isinstance(value, type) and getattr(value, "digest", None):
        return {"digest": value.digest, "uri": getattr(value, "uri", None)}
    if isinstance(value, Mapping):
        if value.get("digest"):
            return {"digest": value["digest"], "uri": value.get("uri") or value.get("root")}
        return {key: reference_identity(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [reference_identity(item) for item in value]
    return value


@dataclass
class ContentInputs(CachePolicy):
    """Like Prefect's ``INPUTS``, over :func:`reference_identity` of each input not in ``exclude``.

    Not a subclass of ``Inputs``: a compound policy would fold it into a plain ``Inputs``.
    """

    exclude: list[str] = field(default_factory=list)

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs):
        kept = {key: reference_identity(value) for key, value in (inputs or {}).items() if key not in self.exclude}
        if not kept:
            return None
        return hash_objects(kept, raise_on_failure=True)


def content_policy(*exclude: str) -> CachePolicy:
    """The content of the inputs (but ``exclude``) plus the task's own source."""
    return ContentInputs(exclude=list(exclude)) + TASK_SOURCE


CACHE_POLICY = content_policy()


@lru_cache(maxsize=None)
def core_digest(*modules: str) -> str:
    """Digest of the ``alchemist_core`` modules a task calls (an explicit cache-key input)."""
    return code_digest(modules)


def result_storage(storage_root: str) -> Path | str:
    """Where Prefect keeps task results and cache records: ``<root>/prefect-results``.

    A local root gives a path. Any other (``s3://...``) gives the slug of a
    ``RemoteFileSystem`` block (fsspec, so s3fs with the usual ``AWS_*`` environment) saved
    on the Prefect API under a name derived from the location: Prefect accepts only saved
    blocks as task result storage. The block holds no credential.
    """
    from alchemist_core.storage import open_storage

    root = open_storage(storage_root)
    if root.is_local:
        return Path(root.uri(RESULTS_FOLDER))
    from prefect.filesystems import RemoteFileSystem

    basepath = root.uri(RESULTS_FOLDER)
    name = "alchemist-results-" + hashlib.sha256(basepath.encode()).hexdigest()[:16]
    RemoteFileSystem(basepath=basepath).save(name, overwrite=True)
    return f"remote-file-system/{name}"


def persisted_in(storage_root: str):
    """A function giving a task whose results (and cache records) live under ``storage_root``."""
    storage = result_storage(storage_root)

    def with_results(task):
        return task.with_options(result_storage=storage)

    return with_results


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from ``parts``: lowercase letters, digits and dashes."""
    key = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")
    return re.sub(r"-{2,}", "-", key) or "alchemist"


def retry_transient(task, task_run, state) -> bool:
    """Retry only errors that may go away: storage and network hiccups, not bad input or bad programs."""
    try:
        state.result()
    except (InputError, ProgramError):
        return False
    except (OSError, TimeoutError, ConnectionError):
        return True
    except Exception:  # noqa: BLE001 - anything else is a bug or a decision, not a hiccup
        return False
    return False
