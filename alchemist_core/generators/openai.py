"""Programs written by an LLM through any OpenAI-compatible endpoint.

For N programs the generator spreads candidates round-robin over the supplement kinds
(``"none"`` is the paper's one-stage prompt; the others are two-stage: one stage-one call per
kind writes the supplementary information, shared by that kind's programs) and over sampling
settings (temperature and prompt variant change each round; the sample index gives every
candidate its own cache key). Each reply's code is extracted and smoke-run on the sample
rows; a failure goes back to the LLM with the error, up to ``max_repairs`` times, then the
candidate is rejected with its reason. Duplicates (same source, or the same votes on the
sample rows) are dropped. Every call goes through the client's cache and ledger, so a rerun
costs nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError
from alchemist_core.generators.base import (
    GenerationContext,
    GenerationResult,
    RejectedProgram,
)
from alchemist_core.generators.prompts import (
    SUPPLEMENT_KINDS,
    SUPPLEMENT_REQUESTS,
    code_messages,
    supplement_from_spec,
    supplement_messages,
)
from alchemist_core.generators.repair import (
    LLMCandidate,
    RepairOutcome,
    candidate_origin,
    request_programs,
)
from alchemist_core.llm.client import (
    BudgetExceeded,
    ChatRequest,
    Completion,
    LLMClient,
    LLMError,
)
from alchemist_core.programs.program_set import ProgramSet
from alchemist_core.programs.sandbox import SandboxLimits
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)

ONE_STAGE = "none"
DEFAULT_KINDS = (ONE_STAGE, *SUPPLEMENT_KINDS)
DEFAULT_TEMPERATURES = (0.7, 1.0)
"""The paper's settings: 0.7 in general, 1.0 for GPT in ScriptoriumWS mode; alternated per round."""


@dataclass(frozen=True)
class PlannedCandidate:
    """One program the generator will ask for: its name, supplement kind and sampling settings."""

    index: int
    name: str
    kind: str
    temperature: float
    seed: int
    variant: int


@dataclass(frozen=True)
class _Supplement:
    text: str
    source: str  # "spec" or "llm"
    completion: Completion | None = None


class OpenAIGenerator:
    """Labeling programs from an LLM (the ``openai`` generator).

    Parameters
    ----------
    client : LLMClient
        Carries the endpoint, response cache, ledger and prices.
    code_model : str, optional
        Model that writes programs; the endpoint's model when ``None``.
    supplement_model : str, optional
        Model that writes stage-one supplementary information; ``code_model`` when ``None``.
        Each call is priced at its own model's rate.
    supplement_kinds : sequence of str
        Kinds to spread programs over: ``"none"`` (one-stage) and any of
        :data:`alchemist_core.generators.prompts.SUPPLEMENT_KINDS`. A kind the spec already supplies
        (``spec.supplementary``) needs no stage-one call.
    documents : sequence of str
        Text of user documents (see :func:`alchemist_core.generators.retrieval.load_documents`); when
        given, stage-one prompts include the passages retrieved for each kind.
    max_repairs : int
        Repair turns per candidate before it is rejected.
    limits : SandboxLimits
        Limits of the smoke run on the sample rows.
    refresh : bool
        Ignore cached replies (and overwrite them): sample again.
    temperatures : sequence of float
        Sampling temperatures, one per round of kinds.
    resample_rounds : int
        Rounds of new candidates asked for when duplicates or rejections leave fewer programs
        than asked for.
    """

    name = "openai"

    def __init__(
        self,
        client: LLMClient,
        *,
        code_model: str | None = None,
        supplement_model: str | None = None,
        supplement_kinds: Sequence[str] = DEFAULT_KINDS,
        documents: Sequence[str] = (),
        max_repairs: int = 2,
        limits: SandboxLimits = SandboxLimits(),
        refresh: bool = False,
        temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
        resample_rounds: int = 2,
    ):
        kinds = tuple(supplement_kinds)
        unknown = [k for k in kinds if k not in DEFAULT_KINDS]
        if not kinds or unknown:
            raise InputError(f"supplement_kinds must be a non-empty subset of {DEFAULT_KINDS}; got {list(kinds)}")
        if max_repairs < 0:
            raise InputError(f"max_repairs must be >= 0, got {max_repairs}")
        if not temperatures:
            raise InputError("temperatures must hold at least one value")
        if resample_rounds < 0:
            raise InputError(f"resample_rounds must be >= 0, got {resample_rounds}")
        self.resample_rounds = resample_rounds
        self.client = client
        self.code_model = code_model or client.endpoint.model
        self.supplement_model = supplement_model or self.code_model
        self.supplement_kinds = kinds
        self.documents = tuple(documents)
        self.max_repairs = max_repairs
        self.limits = limits
        self.refresh = refresh
        self.temperatures = tuple(float(t) for t in temperatures)

    # -- the protocol ----------------------------------------------------------------------------
    def plan(self, n_programs: int, seed: int, start: int = 0) -> list[PlannedCandidate]:
        """Candidates ``start`` .. ``start + n_programs - 1``: supplement kind, temperature, seed and prompt variant."""
        kinds = self.supplement_kinds
        planned = []
        for index in range(start, start + n_programs):
            round_ = index // len(kinds)
            kind = kinds[index % len(kinds)]
            temperature = self.temperatures[round_ % len(self.temperatures)]
            planned.append(PlannedCandidate(index, f"llm_p{index:02d}_{kind}", kind, temperature, seed + index, round_))
        return planned

    def generate(self, context: GenerationContext) -> GenerationResult:
        """Ask for ``context.n_programs`` programs; validate, repair and deduplicate them.

        When duplicates or rejections leave fewer programs than asked for, up to
        ``resample_rounds`` further rounds ask for the shortfall with new candidates (at most
        ``n_programs`` more in all); a round that the endpoint or the budget cut short ends them.

        Raises
        ------
        LLMError
            When every candidate failed because of the endpoint (nothing else to return).
        """
        if context.n_programs < 1:
            raise InputError(f"n_programs must be >= 1, got {context.n_programs}")
        spec = context.spec
        supplements: dict[str, _Supplement] = {}
        supplement_errors: dict[str, LLMError] = {}
        outcome = RepairOutcome()
        plan: list[PlannedCandidate] = []
        rounds: list[dict[str, Any]] = []
        asked = context.n_programs
        for round_number in range(self.resample_rounds + 1):
            batch = self.plan(asked, context.seed, start=len(plan))
            plan += batch
            missing = sorted({c.kind for c in batch if c.kind != ONE_STAGE} - set(supplements) - set(supplement_errors))
            fetched, failed = self._supplements(spec, missing, context.seed)
            supplements.update(fetched)
            supplement_errors.update(failed)
            before = (len(outcome.accepted), len(outcome.rejected), len(outcome.duplicates), len(outcome.errors), outcome.n_refused)
            pending: list[LLMCandidate] = []
            for candidate in batch:
                if candidate.kind in supplement_errors:
                    error = supplement_errors[candidate.kind]
                    if isinstance(error, BudgetExceeded):
                        outcome.n_refused += 1
                    else:
                        outcome.errors.append(error)
                    outcome.rejected.append(RejectedProgram(candidate.name, f"stage one ({candidate.kind}) failed: {error}"))
                    continue
                supplement = supplements.get(candidate.kind)
                request = self.code_request(spec, candidate, supplement.text if supplement else None)
                pending.append(
                    LLMCandidate.ask(candidate.index, candidate.name, candidate.temperature, candidate.seed, list(request.messages))
                )
            request_programs(
                self.client, pending, model=self.code_model, rows=context.sample_rows, n_classes=spec.n_classes,
                limits=self.limits, max_repairs=self.max_repairs, refresh=self.refresh, log=logger, outcome=outcome,
            )  # fmt: skip
            after = (len(outcome.accepted), len(outcome.rejected), len(outcome.duplicates), len(outcome.errors), outcome.n_refused)
            gained = [b - a for a, b in zip(before, after)]
            rounds.append(
                {"round": round_number, "asked": len(batch), "accepted": gained[0], "rejected": gained[1], "duplicates": gained[2]}
            )
            shortfall = context.n_programs - len(outcome.accepted)
            if shortfall <= 0 or gained[3] or gained[4]:
                break  # enough, or the endpoint failed, or the budget refused a call: asking again would not help
            asked = min(shortfall, 2 * context.n_programs - len(plan))
            if asked <= 0:
                break
            logger.info(
                "openai generator: %d of %d programs after round %d (%d duplicates, %d rejected); asking for %d more",
                len(outcome.accepted), context.n_programs, round_number, gained[2], gained[1], asked,
            )  # fmt: skip

        if not outcome.accepted and len(outcome.errors) == len(plan):
            raise outcome.errors[0]
        by_index = {c.index: c for c in plan}
        programs = outcome.programs(lambda candidate: self._origin(candidate, by_index[candidate.index], supplements))
        completions = [s.completion for s in supplements.values() if s.completion is not None] + outcome.completions
        details = self._details(context, supplements, completions, len(programs), len(outcome.rejected))
        details["n_candidates"] = len(plan)
        details["rounds"] = rounds
        details["duplicates"] = [d.to_json() for d in outcome.duplicates]
        details["n_refused_by_budget"] = outcome.n_refused
        budget = self.client.budget
        if budget is not None:
            details["budget"] = {"cap_usd": budget.cap_usd, "spent_usd": round(budget.spent, 6), "spent_before_usd": budget.spent_before}
        logger.info(
            "openai generator: %d of %d programs accepted from %d candidates, %d rejected, %d duplicates, $%.4f spent",
            len(programs), context.n_programs, len(plan), len(outcome.rejected), outcome.n_duplicates, details["dollars"],
        )  # fmt: skip
        return GenerationResult(
            program_set=ProgramSet(programs),
            rejected=tuple(sorted(outcome.rejected, key=lambda r: r.name)),
            n_duplicates=outcome.n_duplicates,
            details=details,
        )

    # -- steps -----------------------------------------------------------------------------------
    def stage_one(self, spec: TaskSpec, kind: str, seed: int) -> str | ChatRequest:
        """The spec's own supplementary information of ``kind``, or the stage-one request that asks for it."""
        given = supplement_from_spec(spec, kind)
        if given:
            return given
        retrieved: Sequence[str] = ()
        if self.documents:
            from alchemist_core.generators.retrieval import retrieve

            query = f"{spec.instruction} {' '.join(spec.class_names)}: {SUPPLEMENT_REQUESTS[kind]}"
            retrieved = retrieve(query, self.documents)
        messages = supplement_messages(spec, kind, retrieved=retrieved)
        return ChatRequest(messages, "supplement", model=self.supplement_model, seed=seed, refresh=self.refresh)

    def code_request(self, spec: TaskSpec, candidate: PlannedCandidate, supplement: str | None) -> ChatRequest:
        """The first request of ``candidate``, given its kind's supplementary information (``None`` for one-stage)."""
        messages = code_messages(
            spec,
            supplement=supplement,
            supplement_kind=candidate.kind if supplement is not None else None,
            variant=candidate.variant,
        )
        return ChatRequest(
            messages, "code", model=self.code_model, temperature=candidate.temperature, seed=candidate.seed,
            n_sample=candidate.index, refresh=self.refresh,
        )  # fmt: skip

    def _supplements(
        self, spec: TaskSpec, kinds: Sequence[str], seed: int
    ) -> tuple[dict[str, _Supplement], dict[str, LLMError]]:
        """Stage one: the supplementary information of each kind, from the spec or one LLM call."""
        supplements: dict[str, _Supplement] = {}
        requests: list[tuple[str, ChatRequest]] = []
        for kind in kinds:
            stage_one = self.stage_one(spec, kind, seed)
            if isinstance(stage_one, str):
                supplements[kind] = _Supplement(stage_one, "spec")
            else:
                requests.append((kind, stage_one))
        errors: dict[str, LLMError] = {}
        results = self.client.try_complete_many([request for _, request in requests])
        for (kind, _), result in zip(requests, results):
            if isinstance(result, LLMError):
                errors[kind] = result
            elif not result.text.strip():
                supplements[kind] = _Supplement("", "llm", result)
                errors[kind] = LLMError(
                    f"stage one for {kind!r} returned an empty reply",
                    status=None,
                    attempts=result.attempts,
                    endpoint=self.client.endpoint.display_url,
                    retryable=False,
                )
            else:
                supplements[kind] = _Supplement(result.text.strip(), "llm", result)
        return supplements, errors

    def _origin(self, candidate: LLMCandidate, planned: PlannedCandidate, supplements: dict[str, _Supplement]) -> dict[str, Any]:
        origin = candidate_origin(
            candidate, generator=self.name, model=self.code_model, supplement_kind=planned.kind, prompt_variant=planned.variant
        )
        supplement = supplements.get(planned.kind)
        if supplement is not None:
            origin["supplement_source"] = supplement.source
            origin["supplement_digest"] = digest_json(supplement.text)
            if supplement.source == "llm":
                origin["supplement_model"] = self.supplement_model
        return origin

    def _details(
        self,
        context: GenerationContext,
        supplements: dict[str, _Supplement],
        completions: Sequence[Completion],
        n_accepted: int,
        n_rejected: int,
    ) -> dict[str, Any]:
        stage_one = [s.completion for s in supplements.values() if s.completion is not None]
        return {
            "code_model": self.code_model,
            "supplement_model": self.supplement_model,
            "supplement_kinds": list(self.supplement_kinds),
            "n_candidates": context.n_programs,
            "n_accepted": n_accepted,
            "n_rejected": n_rejected,
            "supplements": {
                kind: {
                    "source": s.source,
                    "digest": digest_json(s.text),
                    "cached": s.completion.cached if s.completion else None,
                    "dollars": s.completion.dollars if s.completion else 0.0,
                }
                for kind, s in sorted(supplements.items())
            },
            "n_calls": len(completions),
            "n_api_calls": sum(not c.cached for c in completions),
            "n_cached_calls": sum(c.cached for c in completions),
            "prompt_tokens": sum(c.prompt_tokens for c in completions if not c.cached),
            "completion_tokens": sum(c.completion_tokens for c in completions if not c.cached),
            "dollars": sum(c.dollars for c in completions),
            "supplement_dollars": sum(c.dollars for c in stage_one),
        }
