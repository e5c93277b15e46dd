"""The request-and-repair loop of the generators whose programs an LLM writes.

Each candidate program is one conversation with the LLM (:class:`LLMCandidate`): its first
request asks for code (ledger purpose ``"code"``), the program in the reply is extracted and
smoke-run on the sample rows, and a failure goes back to the LLM with the error as a repair
turn (purpose ``"repair"``), up to ``max_repairs`` times, before the candidate is rejected with
its reason. :func:`request_programs` sends each round's requests together through the
client's cache and ledger (the sample index keeps every candidate's cache key its own),
drops a passing program whose source or votes on the sample rows an earlier one already has,
and returns a :class:`RepairOutcome`; :func:`candidate_origin` is an accepted program's
provenance (prompt, sampling, tokens, dollars, repairs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from alchemist_core.digest import digest_json
from alchemist_core.errors import ProgramError
from alchemist_core.generators.base import RejectedProgram
from alchemist_core.generators.prompts import extract_program_source, repair_messages
from alchemist_core.llm.client import (
    BudgetExceeded,
    ChatRequest,
    Completion,
    LLMClient,
    LLMError,
)
from alchemist_core.programs.apply import validate_program
from alchemist_core.programs.program_set import LabelingProgram
from alchemist_core.programs.sandbox import SandboxLimits


@dataclass
class LLMCandidate:
    """One program asked of the LLM: its conversation so far and the replies it cost.

    Parameters
    ----------
    index : int
        Position among the generator's candidates; the sample index of its requests, and the
        order of the accepted programs.
    name : str
        Name of the program it becomes.
    temperature : float
        Sampling temperature of every request.
    seed : int
        Sampling seed of every request.
    messages : list of dict
        The conversation: the first prompt, then each rejected reply and its repair turn.
    prompt_digest : str
        Digest of the first prompt.
    repairs : int
        Repair turns sent so far.
    completions : list of Completion
        Every reply, in order.
    """

    index: int
    name: str
    temperature: float
    seed: int
    messages: list[dict[str, str]]
    prompt_digest: str
    repairs: int = 0
    completions: list[Completion] = field(default_factory=list)

    @classmethod
    def ask(cls, index: int, name: str, temperature: float, seed: int, messages: list[dict[str, str]]) -> LLMCandidate:
        """A candidate that has sent nothing yet, whose prompt is ``messages``."""
        return cls(index, name, temperature, seed, messages, digest_json(messages))


@dataclass(frozen=True)
class DuplicateProgram:
    """A passing program dropped because an earlier one has the same source (``by="source"``) or
    the same votes on every sample row (``by="votes"``)."""

    name: str
    duplicate_of: str
    by: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "duplicate_of": self.duplicate_of, "by": self.by}


@dataclass
class RepairOutcome:
    """What :func:`request_programs` made of its candidates.

    Attributes
    ----------
    accepted : list of (LLMCandidate, str)
        Each accepted candidate with its program's source, in the order they were accepted.
    rejected : list of RejectedProgram
        Candidates whose call failed or whose last reply failed the smoke run.
    errors : list of LLMError
        The failed calls, in order (calls the budget refused are not errors: see ``n_refused``).
    completions : list of Completion
        Every reply, in the order they arrived.
    duplicates : list of DuplicateProgram
        Passing programs dropped as duplicates of an earlier one.
    n_refused : int
        Candidates whose call the budget cap refused (rejected, with the reason).

    Passing the outcome of one round to :func:`request_programs` again continues it: the
    next round's programs are compared with every program accepted so far.
    """

    accepted: list[tuple[LLMCandidate, str]] = field(default_factory=list)
    rejected: list[RejectedProgram] = field(default_factory=list)
    errors: list[LLMError] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    duplicates: list[DuplicateProgram] = field(default_factory=list)
    n_refused: int = 0
    _seen_sources: dict[str, str] = field(default_factory=dict, repr=False)
    _seen_votes: dict[bytes, str] = field(default_factory=dict, repr=False)

    @property
    def n_duplicates(self) -> int:
        return len(self.duplicates)

    def programs(self, origin: Callable[[LLMCandidate], dict[str, Any]]) -> tuple[LabelingProgram, ...]:
        """The accepted programs in candidate order, each with ``origin(candidate)`` as its origin."""
        ordered = sorted(self.accepted, key=lambda item: item[0].index)
        return tuple(LabelingProgram(candidate.name, source, origin(candidate)) for candidate, source in ordered)


def request_programs(
    client: LLMClient,
    candidates: Sequence[LLMCandidate],
    *,
    model: str,
    rows: Sequence[Mapping[str, Any]],
    n_classes: int,
    limits: SandboxLimits,
    max_repairs: int,
    refresh: bool = False,
    empty_votes_match: bool = False,
    log: logging.Logger | None = None,
    outcome: RepairOutcome | None = None,
) -> RepairOutcome:
    """Ask for every candidate's program, repairing failures, until each is accepted or rejected.

    Parameters
    ----------
    client : LLMClient
        Sends the requests (``try_complete_many``), through its cache and ledger.
    candidates : sequence of LLMCandidate
        Updated in place: messages, repairs and completions.
    model : str
        Model of every request.
    rows : sequence of mappings
        Sample rows of the smoke run and of duplicate detection.
    n_classes : int
        Number of classes a vote may name.
    limits : SandboxLimits
        Limits of the smoke run.
    max_repairs : int
        Repair turns per candidate before it is rejected.
    refresh : bool
        Ignore cached replies (and overwrite them).
    empty_votes_match : bool
        Whether two programs with no votes at all (no sample rows) are duplicates.
    log : logging.Logger, optional
        Where repairs and dropped duplicates are reported; nowhere when ``None``.
    outcome : RepairOutcome, optional
        An earlier round's outcome to continue (updated in place and returned).

    Returns
    -------
    RepairOutcome
    """
    outcome = outcome if outcome is not None else RepairOutcome()
    seen_sources = outcome._seen_sources
    seen_votes = outcome._seen_votes
    pending = list(candidates)
    while pending:
        requests = [
            ChatRequest(
                c.messages,
                "code" if c.repairs == 0 else "repair",
                model=model,
                temperature=c.temperature,
                seed=c.seed,
                n_sample=c.index,
                refresh=refresh,
            )
            for c in pending
        ]
        results = client.try_complete_many(requests)
        still_pending = []
        for candidate, result in zip(pending, results):
            if isinstance(result, BudgetExceeded):
                outcome.n_refused += 1
                outcome.rejected.append(RejectedProgram(candidate.name, str(result)))
                continue
            if isinstance(result, LLMError):
                outcome.errors.append(result)
                outcome.rejected.append(RejectedProgram(candidate.name, f"LLM call failed: {result}"))
                continue
            candidate.completions.append(result)
            outcome.completions.append(result)
            source, reason, votes = smoke_check(candidate.name, result.text, rows, n_classes, limits)
            if reason is None:
                compare_votes = votes is not None and (len(votes) > 0 or empty_votes_match)
                duplicate_of, by = seen_sources.get(_source_key(source)), "source"
                if duplicate_of is None and compare_votes:
                    duplicate_of, by = seen_votes.get(votes.tobytes()), "votes"
                if duplicate_of is not None:
                    outcome.duplicates.append(DuplicateProgram(candidate.name, duplicate_of, by))
                    if log is not None:
                        log.info("dropping %s: same %s as %s", candidate.name, by, duplicate_of)
                    continue
                seen_sources[_source_key(source)] = candidate.name
                if compare_votes:
                    seen_votes[votes.tobytes()] = candidate.name
                outcome.accepted.append((candidate, source))
            elif candidate.repairs < max_repairs:
                if log is not None:
                    log.info("%s rejected (%s); asking for a repair", candidate.name, reason)
                candidate.messages = repair_messages(candidate.messages, result.text, reason)
                candidate.repairs += 1
                still_pending.append(candidate)
            else:
                repairs = f" (after {candidate.repairs} repair(s))" if candidate.repairs else ""
                outcome.rejected.append(RejectedProgram(candidate.name, reason + repairs, source))
        pending = still_pending
    return outcome


def smoke_check(
    name: str, reply: str, rows: Sequence[Mapping[str, Any]], n_classes: int, limits: SandboxLimits
) -> tuple[str, str | None, np.ndarray | None]:
    """(source, rejection reason or ``None``, votes on ``rows``) of the program in one reply.

    The source is empty and the votes ``None`` when no program could be read from the reply.
    """
    try:
        source = extract_program_source(reply)
        program = LabelingProgram(name, source)
    except ProgramError as error:
        return "", str(error), None
    report = validate_program(program, rows, n_classes, limits=limits)
    return source, (None if report.ok else report.reason or "failed validation"), report.votes


def candidate_origin(candidate: LLMCandidate, *, generator: str, model: str, **fields: Any) -> dict[str, Any]:
    """Provenance of a candidate's program; ``fields`` (the generator's own) follow the model."""
    completions = candidate.completions
    return {
        "generator": generator,
        "model": model,
        **fields,
        "prompt_digest": candidate.prompt_digest,
        "temperature": candidate.temperature,
        "seed": candidate.seed,
        "sample": candidate.index,
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "dollars": sum(c.dollars for c in completions),
        "price_known": all(c.price_known for c in completions),
        "cached": all(c.cached for c in completions),
        "repairs": candidate.repairs,
    }


def _source_key(source: str) -> str:
    """Digest of the source with trailing whitespace and blank lines ignored."""
    lines = [line.rstrip() for line in source.strip().splitlines()]
    return digest_json([line for line in lines if line])
