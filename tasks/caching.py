"""Cache policy, result storage and retry rules shared by the tasks.

A task's cache key is its own source, the source of the core code it calls, and its inputs,
where every *reference* (a mapping with a content ``digest``: a dataset, a program set, a label
model) counts by its digest and location only. So a key changes when content changes (a data
shard, a program, the spec, a config section, the core code) and not when bookkeeping around
it does (timings, a source path, a generator's notes).

The core code a task calls is derived, not listed: :func:`task_core_modules` reads the task
function's imports and the names it uses, and :func:`~alchemist_core.digest.module_closure`
follows their imports through ``alchemist_core``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import re
import textwrap
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from alchemist_core.digest import (
    code_digest,
    imported_modules,
    module_closure,
    module_path,
    parse_python,
)
from alchemist_core.errors import InputError, ProgramError

RESULTS_FOLDER = "prefect-results"
_OWN_PACKAGES = ("tasks", "flows")


def reference_identity(value: Any) -> Any:
    """What a cache key sees of a task input: references shrink to ``{"digest", "uri"}``.

    A typed reference (:class:`~alchemist_core.refs.Reference`) and a settings model count by
    their ``identity()``; a mapping with a ``digest`` key, or a dataclass with a ``digest``
    attribute (e.g. :class:`~alchemist_core.selection_rows.SelectionRows`), by digest and location.
    """
    if callable(getattr(value, "identity", None)) and not isinstance(value, type):
        return value.identity()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
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


def _module_of(value: Any) -> str | None:
    if isinstance(value, types.ModuleType):
        return value.__name__
    return getattr(value, "__module__", None) if callable(value) else None


def _reached(fn: Any, seen: set[Any]) -> set[str]:
    """The core modules ``fn`` names: its imports, the core objects it uses, and its helpers' modules."""
    fn = inspect.unwrap(getattr(fn, "fn", fn))
    if fn in seen or not inspect.isfunction(fn):
        return set()
    seen.add(fn)
    tree = parse_python(textwrap.dedent(inspect.getsource(fn)))
    found = imported_modules(tree)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in _OWN_PACKAGES:
            module = importlib.import_module(node.module)
            for alias in node.names:
                found |= _reached(getattr(module, alias.name, None), seen)
    for name in names:
        value = fn.__globals__.get(name)
        module = _module_of(value) or ""
        if module_path(module):
            found.add(module)
        elif module.split(".")[0] in _OWN_PACKAGES:
            found |= _reached(value, seen)
    return found


@cache
def task_core_modules(fn: Any) -> tuple[str, ...]:
    """Every ``alchemist_core`` module a task function (or :class:`~prefect.Task`) can run.

    Read from the function's source: its imports, the core names it uses, and the same for
    the helpers of ``tasks``/``flows`` it calls; closed over ``alchemist_core``'s own imports.
    """
    return module_closure(_reached(fn, set()))


def task_code_digest(fn: Any) -> str:
    """Digest of the core code a task function calls (see :func:`task_core_modules`)."""
    return code_digest(task_core_modules(fn))


@dataclass
class CoreCode(CachePolicy):
    """The source of every ``alchemist_core`` module the task can run (Prefect's ``TASK_SOURCE``
    hashes only the task's own body)."""

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs):
        return task_code_digest(task_ctx.task.fn)


def content_policy(*exclude: str) -> CachePolicy:
    """The content of the inputs (but ``exclude``), the task's own source and its core code."""
    return ContentInputs(exclude=list(exclude)) + TASK_SOURCE + CoreCode()


CACHE_POLICY = content_policy()


def result_storage(storage_root: str) -> Path | str:
    """Where Prefect keeps task results and cache records: ``<root>/prefect-results``.

    A local root gives a path. Any other (``s3://...``) gives the slug of a
    ``RemoteFileSystem`` block (fsspec, so s3fs with the usual ``AWS_*`` environment) saved
    on the Prefect API under a name derived from the location: Prefect accepts only saved
    blocks as task result storage. The block holds no credential.
    """
    from alchemist_core.data.storage import open_storage

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
