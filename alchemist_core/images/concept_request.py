"""Asking the LLM for visual concepts that tell the classes apart.

:func:`request_concepts` sends the prompt of :func:`alchemist_core.generators.prompts.concept_messages`
through an :class:`~alchemist_core.llm.LLMClient` (response cache and cost ledger) and reads
the reply as a concept file (:func:`alchemist_core.images.concepts.parse_concept_reply`); a reply
that is not one goes back to the LLM with the error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alchemist_core.errors import InputError
from alchemist_core.generators.prompts import concept_messages, concept_repair_messages
from alchemist_core.images.concepts import MAX_CONCEPTS, ConceptSet, parse_concept_reply
from alchemist_core.llm import ChatRequest, Completion, LLMClient
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConceptRequestResult:
    """What :func:`request_concepts` returns: the concepts and every completion it took."""

    concept_set: ConceptSet
    completions: tuple[Completion, ...]
    n_repairs: int = 0


def request_concepts(
    client: LLMClient,
    spec: TaskSpec,
    *,
    n_concepts: int = 6,
    subject: str | None = None,
    model: str | None = None,
    seed: int = 0,
    max_repairs: int = 2,
    refresh: bool = False,
) -> ConceptRequestResult:
    """Ask the LLM for concepts that separate the spec's classes (purpose ``"concepts"``).

    The call goes through ``client`` (response cache and cost ledger). A reply that is not
    a valid concept file goes back to the LLM with the error, up to ``max_repairs`` times.

    Parameters
    ----------
    client : LLMClient
    spec : TaskSpec
    n_concepts : int
        How many concepts to ask for.
    subject : str, optional
        What the images show; the LLM names it when ``None``.
    model : str, optional
        The endpoint's model when ``None``.
    seed : int
    max_repairs : int
    refresh : bool
        Ignore cached replies.

    Returns
    -------
    ConceptRequestResult

    Raises
    ------
    InputError
        When no valid concept file came back after the repairs; the message holds the last
        validation error.
    LLMError
        When the endpoint fails.
    """
    if not 1 <= n_concepts <= MAX_CONCEPTS:
        raise InputError(f"n_concepts must be in 1..{MAX_CONCEPTS}, got {n_concepts}")
    messages = concept_messages(spec, n_concepts=n_concepts, subject=subject)
    completions = []
    for attempt in range(max_repairs + 1):
        request = ChatRequest(messages, "concepts", model=model, seed=seed, n_sample=attempt, refresh=refresh)
        completion = client.complete_many([request])[0]
        completions.append(completion)
        try:
            concept_set = parse_concept_reply(completion.text, spec.class_names)
        except InputError as error:
            reason = str(error)
            logger.info("concept reply %d rejected: %s", attempt, reason)
            messages = concept_repair_messages(messages, completion.text, reason, spec.class_names)
            continue
        if subject:
            concept_set = ConceptSet(concept_set.class_names, concept_set.concepts, subject, concept_set.template, "llm")
        logger.info(
            "the LLM named %d concepts: %s", len(concept_set.concepts), ", ".join(c.name for c in concept_set.concepts)
        )
        return ConceptRequestResult(concept_set, tuple(completions), attempt)
    raise InputError(
        f"the LLM gave no valid concept file in {max_repairs + 1} replies; last problem: {reason}. "
        "Write the concepts by hand (see docs/multimodal.md) and pass them as a concept file"
    )
