"""The seam every program generator plugs into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from alchemist_core.errors import NoProgramsError
from alchemist_core.programs.program_set import ProgramSet
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
    n_valid_rows : int
        How many of ``labeled_rows`` (the first ones) are rows of the run's valid split, the
        split every choice is made on; the rest are the spec's examples.
    """

    spec: TaskSpec
    sample_rows: Sequence[Mapping[str, Any]] = ()
    labeled_rows: Sequence[tuple[Mapping[str, Any], int]] = ()
    n_programs: int = 10
    seed: int = 0
    n_valid_rows: int = 0


@dataclass(frozen=True)
class RejectedProgram:
    """A candidate that did not make it into the set, with the reason."""

    name: str
    reason: str
    source: str = ""


@dataclass(frozen=True)
class GenerationResult:
    """What a generator returns: the accepted programs, what it rejected or dropped, and whether
    it fitted them to the labeled rows it was given."""

    program_set: ProgramSet
    rejected: tuple[RejectedProgram, ...] = ()
    n_duplicates: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
    fitted_to_labeled_rows: bool = False
    """Whether the programs were fitted to ``context.labeled_rows`` (mined terms, thresholds,
    prototypes): their scores on those rows, and every choice made on them, are then in-sample."""


@runtime_checkable
class ProgramGenerator(Protocol):
    """A source of labeling programs: ``generate(context) -> GenerationResult``."""

    name: str

    def generate(self, context: GenerationContext) -> GenerationResult: ...


MAX_LISTED_REJECTIONS = 20
"""Rejected candidates an error names one by one; the rest are counted."""


def require_programs(result: GenerationResult, generator: str, *, where: str = "") -> None:
    """Raise :class:`NoProgramsError` naming every rejected candidate and its reason when ``result`` has no program.

    ``where`` says where the rejected candidates were written (``programs/rejected.json``).
    """
    if len(result.program_set):
        return
    rejected = list(result.rejected)
    lines = [
        f"no usable labeling program: the {generator} generator accepted none of its candidates "
        f"({len(rejected)} rejected, {result.n_duplicates} duplicates), so there is nothing to label with"
    ]
    lines += [f"  - {r.name}: {r.reason}" for r in rejected[:MAX_LISTED_REJECTIONS]]
    if len(rejected) > MAX_LISTED_REJECTIONS:
        lines.append(f"  ... and {len(rejected) - MAX_LISTED_REJECTIONS} more")
    if where:
        lines.append(f"the rejected programs, with their sources: {where}")
    raise NoProgramsError("\n".join(lines))
