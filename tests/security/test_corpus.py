"""Every hostile program is rejected by the policy or contained at run time.

Each runtime program runs through :func:`alchemist_core.programs.apply.label_partition` between two
well-behaved programs on a realistic batch, with short limits. Contained means: the run
completes, the well-behaved programs' votes are exactly right, and the hostile program's
outcome is the one its docstring expects.
"""

from __future__ import annotations

import numpy as np
import pytest

from alchemist_core.programs.apply import label_partition
from alchemist_core.programs.policy import check_program
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.programs.sandbox import PartitionLabels, SandboxLimits
from tests.security import (
    EXPECTED,
    FIELDS,
    N_CLASSES,
    NEEDS_REASON,
    RUNTIME_OUTCOMES,
    STATIC,
    HostileProgram,
    batch,
    between_good_programs,
    load_corpus,
)

LIMITS = SandboxLimits(program_seconds=1.0, memory_mb=256)
# The worker keeps 200 characters of a message, plus the row number and what was expected.
MAX_MESSAGE_CHARS = 300

CORPUS = load_corpus()
STATIC_PROGRAMS = [p for p in CORPUS if p.expect == STATIC]
RUNTIME_PROGRAMS = [p for p in CORPUS if p.expect in RUNTIME_OUTCOMES]

# (hostile program name) -> labels of each run; shared by the per-program tests and the summary
_RUNS: dict[str, list[PartitionLabels]] = {}


@pytest.fixture(autouse=True)
def _away_from_the_checkout(tmp_path, monkeypatch):
    # Some programs attack the parent's working directory; should one ever escape, it finds
    # an empty temporary folder there, not the repository.
    monkeypatch.chdir(tmp_path)


def _runs(hostile: HostileProgram) -> list[PartitionLabels]:
    if hostile.name not in _RUNS:
        n_runs = 2 if hostile.expect == "runtime:deterministic" else 1
        _RUNS[hostile.name] = [
            label_partition(batch(), between_good_programs(hostile), N_CLASSES, fields=FIELDS, limits=LIMITS)
            for _ in range(n_runs)
        ]
    return _RUNS[hostile.name]


def containment_problems(hostile: HostileProgram, runs: list[PartitionLabels]) -> list[str]:
    """Why ``hostile`` was not contained in ``runs``; empty when it was."""
    problems = []
    labels = runs[0]
    for name, expected in EXPECTED.items():
        votes = labels.L[:, labels.program_names.index(name)].tolist()
        if votes != expected:
            problems.append(f"{name} voted {votes}, expected {expected}")
        if not labels.faults[name].ok:
            problems.append(f"{name} has faults {labels.faults[name]}")
    faults = labels.faults[hostile.name]
    votes = labels.L[:, labels.program_names.index(hostile.name)]
    n_rows = labels.n_rows
    reason = hostile.reason or ""
    if hostile.expect == "runtime:deterministic":
        again = runs[1].L[:, runs[1].program_names.index(hostile.name)]
        if not np.array_equal(votes, again):
            problems.append(f"voted {votes.tolist()} and then {again.tolist()}")
        if not faults.ok:
            problems.append(f"expected no fault, got {faults}")
        return problems
    if (votes != ABSTAIN).any():
        problems.append(f"expected ABSTAIN on every row, got {votes.tolist()}")
    if hostile.expect == "runtime:timeout":
        if not faults.timed_out or faults.quarantined is not None:
            problems.append(f"expected the timer to stop it, got {faults}")
    elif hostile.expect == "runtime:quarantined":
        if not faults.quarantined or reason not in faults.quarantined:
            problems.append(f"expected to be quarantined with {reason!r}, got {faults}")
    elif hostile.expect == "runtime:faults":
        if faults.n_errors != n_rows or reason not in (faults.first_error or ""):
            problems.append(f"expected {n_rows} faults, the first with {reason!r}, got {faults}")
    elif hostile.expect == "runtime:invalid":
        if faults.n_invalid != n_rows or reason not in (faults.first_invalid or ""):
            problems.append(f"expected {n_rows} invalid outputs, the first with {reason!r}, got {faults}")
    for message in (faults.first_error, faults.first_invalid):
        if message is not None and len(message) > MAX_MESSAGE_CHARS:
            problems.append(f"a message of {len(message)} characters reached the parent")
    return problems


def test_the_corpus_is_large_varied_and_well_formed():
    assert len(CORPUS) >= 45
    for hostile in CORPUS:
        assert hostile.attack, f"{hostile.name}: the docstring's first line must name the attack"
        assert hostile.expect in RUNTIME_OUTCOMES | {STATIC}, f"{hostile.name}: unknown expect {hostile.expect!r}"
        if hostile.expect in NEEDS_REASON:
            assert hostile.reason, f"{hostile.name}: expect {hostile.expect} needs a 'reason:' line"
    assert {p.expect for p in CORPUS} == RUNTIME_OUTCOMES | {STATIC}


@pytest.mark.parametrize("hostile", STATIC_PROGRAMS, ids=lambda p: p.name)
def test_rejected_by_the_policy_with_a_clear_reason(hostile):
    violations = check_program(hostile.source, name=hostile.name)
    assert any(hostile.reason in v for v in violations), violations
    # Each reason points at its line, so the author (or the repair loop) can fix it.
    assert all(v.startswith("line ") for v in violations), violations


def test_statically_rejected_programs_never_run_and_the_others_keep_their_votes():
    labels = label_partition(batch(), between_good_programs(*STATIC_PROGRAMS), N_CLASSES, fields=FIELDS, limits=LIMITS)
    for hostile in STATIC_PROGRAMS:
        faults = labels.faults[hostile.name]
        assert faults.quarantined.startswith("breaks the sandbox policy: "), (hostile.name, faults)
        assert hostile.reason in faults.quarantined
        assert faults.seconds == 0.0
        assert (labels.L[:, labels.program_names.index(hostile.name)] == ABSTAIN).all()
    for name, expected in EXPECTED.items():
        assert labels.L[:, labels.program_names.index(name)].tolist() == expected


@pytest.mark.parametrize("hostile", RUNTIME_PROGRAMS, ids=lambda p: p.name)
def test_passes_the_policy(hostile):
    # Otherwise the runtime expectation would test nothing: the policy would stop it first.
    assert check_program(hostile.source, name=hostile.name) == []


@pytest.mark.parametrize("hostile", RUNTIME_PROGRAMS, ids=lambda p: p.name)
def test_contained_at_run_time(hostile):
    assert containment_problems(hostile, _runs(hostile)) == []


def test_summary_every_hostile_program_was_rejected_or_contained():
    rejected = [p for p in CORPUS if check_program(p.source, name=p.name)]
    passed = [p for p in CORPUS if p not in rejected]
    contained = [p for p in passed if p.expect in RUNTIME_OUTCOMES and not containment_problems(p, _runs(p))]
    print(
        f"hostile programs tried: {len(CORPUS)}, rejected statically: {len(rejected)}, "
        f"contained at run time: {len(contained)}"
    )
    assert {p.name for p in rejected} == {p.name for p in STATIC_PROGRAMS}
    assert len(rejected) + len(contained) == len(CORPUS)
