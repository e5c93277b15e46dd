"""Content digests: the keys of caches, provenance and run manifests."""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from functools import lru_cache
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


# NB: CPython 3.11's AST constructor keeps its recursion depth per interpreter, not per
# thread, so two threads parsing at once can fail with "AST constructor recursion depth
# mismatch" (tasks run in Prefect's thread pool). Every parse in alchemist_core (program
# source, the policy check, the code digests of cached tasks, numpy's .npy header reads)
# takes this lock; a parse elsewhere in the process (``inspect.signature`` of a builtin, which
# Prefect calls from every task thread) can still collide with one, so a parse that fails
# that way is tried again.
AST_LOCK = threading.RLock()
_AST_RACE = "AST constructor recursion depth mismatch"
_AST_TRIES = 5


def parse_python(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` of ``source``, one thread at a time, again if another thread's parse collided with it."""
    for attempt in range(_AST_TRIES):
        with AST_LOCK:
            try:
                return ast.parse(source, filename=filename)
            except SystemError as error:
                if _AST_RACE not in str(error) or attempt == _AST_TRIES - 1:
                    raise
    raise AssertionError("unreachable")


PACKAGE = "alchemist_core"
_ROOT = Path(__file__).resolve().parent


def module_path(name: str) -> Path | None:
    """The source file of the ``alchemist_core`` module (or package) ``name``, or ``None``."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = _ROOT.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    if not level:
        return module or ""
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_modules(tree: ast.AST, importer: str = "", is_package: bool = False) -> set[str]:
    """The ``alchemist_core`` modules an AST imports anywhere in it (function bodies included).

    ``from alchemist_core.pkg import name`` counts ``alchemist_core.pkg.name`` when that is a
    module, and ``alchemist_core.pkg`` otherwise; relative imports are resolved from ``importer``.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if module_path(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, importer, is_package)
            if not module_path(base):
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if module_path(f"{base}.{alias.name}"))
    return found


@lru_cache(maxsize=None)
def _direct_imports(name: str) -> frozenset[str]:
    path = module_path(name)
    if path is None:
        return frozenset()
    tree = parse_python(path.read_bytes(), filename=str(path))
    return frozenset(imported_modules(tree, name, is_package=path.name == "__init__.py"))


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def module_closure(modules: Iterable[str]) -> tuple[str, ...]:
    """``modules`` and every ``alchemist_core`` module they import, directly or not, sorted.

    Imports are read from the source (inside functions too), so a module imported lazily
    counts; importing a submodule counts its packages' ``__init__`` as well.

    Examples
    --------
    >>> "alchemist_core.digest" in module_closure(["alchemist_core.programs.program_set"])
    True
    """
    seen: set[str] = set()
    todo = [m for m in modules if module_path(m)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(m for m in (*_direct_imports(name), *_parents(name)) if m not in seen and module_path(m))
    return tuple(sorted(seen))


def source_bytes(name: str) -> bytes:
    """The bytes of module ``name``'s source file."""
    path = module_path(name)
    if path is None:
        raise ValueError(f"expected an {PACKAGE} module name, got {name!r}")
    return path.read_bytes()


def code_digest(modules: Iterable[str]) -> str:
    """Digest of the source files of the named ``alchemist_core`` modules (names and bytes).

    Cached tasks key on the digest of the :func:`module_closure` of the core code they call,
    so editing any module a task depends on invalidates that task's cache.

    Examples
    --------
    >>> len(code_digest(["alchemist_core.digest"]))
    64
    """
    return combine(*(name + ":" + sha256_bytes(source_bytes(name)) for name in sorted(set(modules))))
