"""Labeling programs and program sets.

A program is Python source defining ``label(x) -> int``: ``x`` is one row, a read-only
mapping of field name to value, and the result is a class index ``0..k-1`` or ``ABSTAIN``.
A program set is an ordered collection of programs with unique names, stored as one ``.py``
file per program plus ``manifest.json`` (digest and origin of each program).

Compiling and running programs is the business of :mod:`alchemist_core.programs.sandbox`; this module
only holds and stores their source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from alchemist_core.digest import combine, parse_python, sha256_text
from alchemist_core.errors import InputError, ProgramError

ABSTAIN = -1

def parse_source(source: str, filename: str = "<program>"):
    """``ast.parse`` of program source, one thread at a time (:func:`alchemist_core.digest.parse_python`)."""
    return parse_python(source, filename)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,79}$")


@dataclass(frozen=True)
class LabelingProgram:
    """One labeling program.

    Parameters
    ----------
    name : str
        Unique within a program set; a Python identifier, e.g. ``"p017_refund_keywords"``.
    source : str
        The program's Python source, exactly as written or extracted from an LLM reply.
    origin : mapping
        Where it came from: ``{"generator": "offline" | "library" | "openai" | "human", ...}``
        plus provider details (model, prompt digest, tokens, cost) where they exist.
    """

    name: str
    source: str
    origin: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ProgramError(
                f"program name {self.name!r} is not usable; expected a Python identifier of at most 80 characters"
            )
        if not isinstance(self.source, str) or not self.source.strip():
            raise ProgramError(f"program {self.name!r} has empty source")

    @property
    def digest(self) -> str:
        """sha256 of the source: the program's identity in caches and provenance."""
        return sha256_text(self.source)

    @property
    def features(self) -> tuple[str, ...]:
        """Precomputed features the program declares with a module-level ``FEATURES = (...)``."""
        import ast

        try:
            tree = parse_source(self.source)
        except SyntaxError:
            return ()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "FEATURES" for t in node.targets):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    return ()
                if isinstance(value, str):
                    return (value,)
                if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
                    return tuple(value)
        return ()

    def describe(self) -> str:
        """The first line of the program's docstring, or an empty string."""
        import ast

        try:
            tree = parse_source(self.source)
        except SyntaxError:
            return ""
        for node in [tree, *tree.body]:
            if isinstance(node, (ast.Module, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    return doc.strip().splitlines()[0]
        return ""


@dataclass(frozen=True)
class ProgramSet:
    """An ordered collection of programs with unique names."""

    programs: tuple[LabelingProgram, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "programs", tuple(self.programs))
        names = [p.name for p in self.programs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ProgramError(f"program names must be unique within a set; repeated: {duplicates}")

    def __len__(self) -> int:
        return len(self.programs)

    def __iter__(self):
        return iter(self.programs)

    def __getitem__(self, name: str) -> LabelingProgram:
        for program in self.programs:
            if program.name == name:
                return program
        raise KeyError(f"no program named {name!r}; the set has {self.names}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.programs]

    @property
    def digest(self) -> str:
        """Digest of the names and sources, in order: changes when any program changes."""
        return combine(*(f"{p.name}:{p.digest}" for p in self.programs))

    def manifest(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "n_programs": len(self.programs),
            "programs": [
                {"name": p.name, "file": f"{p.name}.py", "digest": p.digest, "origin": dict(p.origin)}
                for p in self.programs
            ],
        }

    @property
    def features(self) -> tuple[str, ...]:
        """Every precomputed feature some program of the set declares, sorted."""
        return tuple(sorted({f for p in self.programs for f in p.features}))

    def subset(self, names: Iterable[str]) -> "ProgramSet":
        keep = set(names)
        return ProgramSet(tuple(p for p in self.programs if p.name in keep))


def save_program_set(program_set: ProgramSet, storage: Any, *parts: str) -> str:
    """Write each program as ``<name>.py`` and the manifest under ``parts``; returns the folder URI.

    The manifest is written last, so a folder without one is an interrupted write.
    """
    for program in program_set:
        storage.write_text(program.source, *parts, f"{program.name}.py")
    storage.write_json(program_set.manifest(), *parts, "manifest.json")
    return storage.uri(*parts)


def load_program_set(storage: Any, *parts: str) -> ProgramSet:
    """Read a program set written by :func:`save_program_set`, checking every digest."""
    manifest = storage.read_json(*parts, "manifest.json")
    programs = []
    for entry in manifest["programs"]:
        source = storage.read_text(*parts, entry["file"])
        program = LabelingProgram(entry["name"], source, entry.get("origin", {}))
        if program.digest != entry["digest"]:
            raise ProgramError(
                f"program {entry['name']!r} at {storage.uri(*parts, entry['file'])} has digest {program.digest[:12]}, "
                f"but the manifest records {entry['digest'][:12]}; the file was edited after it was stored"
            )
        programs.append(program)
    return ProgramSet(tuple(programs))


def load_program_folder(path: str | Path, *, origin: str = "library") -> ProgramSet:
    """Read every ``*.py`` file in a folder as a program (sorted by file name).

    The file stem is the program name. Where the folder has a ``manifest.json`` (a stored
    program set), its origins are kept; files edited since then get ``origin["edited"] = True``.
    """
    import json

    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"expected a folder of program .py files at {folder}, found none")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise InputError(f"expected at least one program .py file in {folder}, found none")
    recorded: dict[str, dict[str, Any]] = {}
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        for entry in json.loads(manifest_path.read_text(encoding="utf-8")).get("programs", []):
            recorded[entry["name"]] = entry
    programs = []
    for file in files:
        try:
            source = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"program file {file} is not UTF-8 text: {error}") from None
        name = file.stem
        entry = recorded.get(name)
        if entry is not None:
            program_origin = dict(entry.get("origin", {}))
            if entry.get("digest") != sha256_text(source):
                program_origin["edited"] = True
        else:
            program_origin = {"generator": origin, "path": file.name}
        programs.append(LabelingProgram(name, source, program_origin))
    return ProgramSet(tuple(programs))
