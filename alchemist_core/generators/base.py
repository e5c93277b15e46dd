"""The seam every program generator plugs into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from alchemist_core.programs import ProgramSet
from alchemist_core.spec import TaskSpec


@dataclass(frozen=True)
class GenerationContext:
    """What a generator may see.

    Parameters
    ----------
    spec : TaskSpec
        The task.
    sample_rows : sequence of mappings
        Unlabeled rows (input fields only) for smoke runs, duplicate detection and mining.
    labeled_rows : sequence of (row, class index)
        A small labeled set, typically the ``valid`` split or the spec's examples. Never the
        test split. May be empty.
    n_programs : int
        How many programs to aim for.
    seed : int
        Seed for every random choice the generator makes.
    """

    spec: TaskSpec
    sample_rows: Sequence[Mapping[str, Any]] = ()
    labeled_rows: Sequence[tuple[Mapping[str, Any], int]] = ()
    n_programs: int = 10
    seed: int = 0


@dataclass(frozen=True)
class RejectedProgram:
    """A candidate that did not make it into the set, with the reason."""

    name: str
    reason: str
    source: str = ""


@dataclass(frozen=True)
class GenerationResult:
    """What a generator returns: the accepted programs and what it rejected or dropped."""

    program_set: ProgramSet
    rejected: tuple[RejectedProgram, ...] = ()
    n_duplicates: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ProgramGenerator(Protocol):
    """A source of labeling programs: ``generate(context) -> GenerationResult``."""

    name: str

    def generate(self, context: GenerationContext) -> GenerationResult: ...
