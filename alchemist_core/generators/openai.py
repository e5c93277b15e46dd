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
    candidate_origin,
    request_programs,
)
from alchemist_core.llm.client import ChatRequest, Completion, LLMClient, LLMError
from alchemist_core.programs.program_set import ProgramSet
from alchemist_core.programs.sandbox import SandboxLimits
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)

ONE_STAGE = "none"
DEFAULT_KINDS = (ONE_STAGE, *SUPPLEMENT_KINDS)
DEFAULT_TEMPERATURES = (0.7, 1.0)
"""The paper's settings: 0.7 in general, 1.0 for GPT in ScriptoriumWS mode; alternated per round."""


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
    ):
        kinds = tuple(supplement_kinds)
        unknown = [k for k in kinds if k not in DEFAULT_KINDS]
        if not kinds or unknown:
            raise InputError(f"supplement_kinds must be a non-empty subset of {DEFAULT_KINDS}; got {list(kinds)}")
        if max_repairs < 0:
            raise InputError(f"max_repairs must be >= 0, got {max_repairs}")
        if not temperatures:
            raise InputError("temperatures must hold at least one value")
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
    def generate(self, context: GenerationContext) -> GenerationResult:
        """Ask for ``context.n_programs`` programs; validate, repair and deduplicate them.

        Raises
        ------
        LLMError
            When every candidate failed because of the endpoint (nothing else to return).
        """
        if context.n_programs < 1:
            raise InputError(f"n_programs must be >= 1, got {context.n_programs}")
        spec = context.spec
        plan = [self._plan_entry(i, context.seed) for i in range(context.n_programs)]
        kinds_used = sorted({kind for kind, _, _, _ in plan if kind != ONE_STAGE})
        supplements, supplement_errors = self._supplements(spec, kinds_used, context.seed)

        rejected: list[RejectedProgram] = []
        llm_errors: list[LLMError] = []
        pending: list[LLMCandidate] = []
        for index, (kind, temperature, seed, variant) in enumerate(plan):
            name = f"llm_p{index:02d}_{kind}"
            if kind in supplement_errors:
                error = supplement_errors[kind]
                llm_errors.append(error)
                rejected.append(RejectedProgram(name, f"stage one ({kind}) failed: {error}"))
                continue
            supplement = supplements.get(kind)
            messages = code_messages(
                spec,
                supplement=supplement.text if supplement else None,
                supplement_kind=kind if supplement else None,
                variant=variant,
            )
            pending.append(LLMCandidate.ask(index, name, temperature, seed, messages))

        outcome = request_programs(
            self.client,
            pending,
            model=self.code_model,
            rows=context.sample_rows,
            n_classes=spec.n_classes,
            limits=self.limits,
            max_repairs=self.max_repairs,
            refresh=self.refresh,
            log=logger,
        )
        rejected += outcome.rejected
        llm_errors += outcome.errors
        n_duplicates = outcome.n_duplicates
        all_completions = [s.completion for s in supplements.values() if s.completion is not None]
        all_completions += outcome.completions
        if not outcome.accepted and llm_errors and len(llm_errors) == context.n_programs:
            raise llm_errors[0]
        programs = outcome.programs(lambda candidate: self._origin(candidate, plan[candidate.index][0], supplements))
        details = self._details(context, supplements, all_completions, len(programs), len(rejected))
        logger.info(
            "openai generator: %d of %d candidates accepted, %d rejected, %d duplicates, $%.4f spent",
            len(programs), context.n_programs, len(rejected), n_duplicates, details["dollars"],
        )  # fmt: skip
        return GenerationResult(
            program_set=ProgramSet(programs),
            rejected=tuple(sorted(rejected, key=lambda r: r.name)),
            n_duplicates=n_duplicates,
            details=details,
        )

    # -- steps -----------------------------------------------------------------------------------
    def _plan_entry(self, index: int, seed: int) -> tuple[str, float, int, int]:
        """(kind, temperature, seed, prompt variant) of candidate ``index``."""
        kinds = self.supplement_kinds
        round_ = index // len(kinds)
        return kinds[index % len(kinds)], self.temperatures[round_ % len(self.temperatures)], seed + index, round_

    def _supplements(
        self, spec: TaskSpec, kinds: Sequence[str], seed: int
    ) -> tuple[dict[str, _Supplement], dict[str, LLMError]]:
        """Stage one: the supplementary information of each kind, from the spec or one LLM call."""
        supplements: dict[str, _Supplement] = {}
        requests: list[tuple[str, ChatRequest]] = []
        for kind in kinds:
            given = supplement_from_spec(spec, kind)
            if given:
                supplements[kind] = _Supplement(given, "spec")
                continue
            retrieved: Sequence[str] = ()
            if self.documents:
                from alchemist_core.generators.retrieval import retrieve

                query = f"{spec.instruction} {' '.join(spec.class_names)}: {SUPPLEMENT_REQUESTS[kind]}"
                retrieved = retrieve(query, self.documents)
            messages = supplement_messages(spec, kind, retrieved=retrieved)
            request = ChatRequest(messages, "supplement", model=self.supplement_model, seed=seed, refresh=self.refresh)
            requests.append((kind, request))
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

    def _origin(self, candidate: LLMCandidate, kind: str, supplements: dict[str, _Supplement]) -> dict[str, Any]:
        origin = candidate_origin(candidate, generator=self.name, model=self.code_model, supplement_kind=kind)
        supplement = supplements.get(kind)
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
