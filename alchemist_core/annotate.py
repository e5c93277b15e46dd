"""The paper's baseline: an LLM labels every row directly (zero-shot, in batches).

This is what Alchemist is compared against: its cost grows with the data, where programs
cost a fixed handful of calls. Before any call the cost is estimated
(:func:`alchemist_core.llm.pricing.estimate_annotation_cost`), and a hard budget cap stops
before a call whose estimated cost would exceed what is left. Replies are cached like every
other call, so a rerun costs only the batches not yet answered.

The estimate measures prompt lengths on a fixed, evenly spread sample of the rows
(:func:`sample_positions`), so the report's "label every training row" estimate
(:func:`estimate_labeling_cost`, read from the stored shards) and ``annotate`` (on the rows
in memory) price the same rows and give the same number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from alchemist_core.errors import AlchemistError, InputError
from alchemist_core.generators.prompts import (
    AnnotationReplyError,
    annotate_messages,
    parse_annotation_reply,
)
from alchemist_core.llm.client import ChatRequest, LLMClient
from alchemist_core.llm.pricing import (
    CostEstimate,
    PriceTable,
    estimate_annotation_cost,
    estimate_message_tokens,
    estimate_reply_tokens,
    load_price_table,
)
from alchemist_core.programs.program_set import ABSTAIN
from alchemist_core.spec import TaskSpec

logger = logging.getLogger(__name__)

ESTIMATE_SAMPLE_ROWS = 200
"""Rows (spread over the data) the cost estimate measures prompt lengths on."""

DEFAULT_BATCH_SIZE = 20
"""Rows per call of direct labeling, and of the report's estimate."""


class NoUsableLabelsError(AlchemistError):
    """Direct labeling got no usable label for any row (every reply unusable, or nothing sent)."""


def sample_positions(n_rows: int, n_sample: int = ESTIMATE_SAMPLE_ROWS) -> list[int]:
    """Positions of an evenly spread sample of ``min(n_sample, n_rows)`` rows among ``n_rows``.

    The same ``n_rows`` always gives the same positions, so every estimate made from them on
    the same rows agrees.

    Examples
    --------
    >>> sample_positions(10, 4)
    [0, 2, 5, 7]
    >>> sample_positions(3, 200)
    [0, 1, 2]
    """
    k = min(n_sample, n_rows)
    return [i * n_rows // k for i in range(k)]


def estimate_labeling_cost(
    spec: TaskSpec,
    data: Any,
    manifest: Any,
    split: str,
    fields: Sequence[str],
    model: str,
    *,
    prices: PriceTable | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> CostEstimate:
    """What labeling every row of ``split`` with ``model`` directly would cost (no call is made).

    The pool is the split's rows in shard order, as ``annotate`` reads them. Prompt lengths are
    measured on the rows at :func:`sample_positions`, located by the shards' row counts (read
    from the Parquet footers); only the shards holding a sampled row are read, and only
    ``fields``. The result depends on nothing but the split's rows, the model, the prices and
    ``batch_size``: not on the order of the manifest's splits.

    Parameters
    ----------
    spec : TaskSpec
    data : Storage
        The ingested dataset's folder.
    manifest : DatasetManifest
    split : str
        The pool: the split whose rows would be labeled (``annotate`` labels the training split).
    fields : sequence of str
        The input fields the prompts show.
    model : str
    prices : PriceTable, optional
        The shipped table when ``None``.
    batch_size : int
        Rows per call.

    Returns
    -------
    CostEstimate

    Raises
    ------
    InputError
        When the manifest has no split ``split``.
    """
    if split not in manifest.splits:
        raise InputError(f"the dataset has no split {split!r} to estimate labeling for; it has {sorted(manifest.splits)}")
    shards = list(manifest.splits[split].shards)
    counts = [data.parquet_rows(shard) for shard in shards]
    n_rows = sum(counts)
    wanted = sample_positions(n_rows)
    sample: list[dict[str, Any]] = []
    offset = 0
    for shard, count in zip(shards, counts):
        local = [p - offset for p in wanted if offset <= p < offset + count]
        if local:
            table = data.read_table(shard, columns=list(fields)).take(local)
            sample.extend({f: row[f] for f in fields} for row in table.to_pylist())
        offset += count
    prices = prices if prices is not None else load_price_table()
    return estimate_annotation_cost(spec, sample, n_rows, model, prices, batch_size)


@dataclass(frozen=True)
class AnnotationResult:
    """What direct LLM labeling produced and cost.

    Attributes
    ----------
    labels : numpy.ndarray
        ``(n_rows,)`` int64 class indices; ``ABSTAIN`` (-1) where the LLM said -1, where its
        reply was unusable and where no call was made (dry run or budget cap).
    n_calls : int
        Calls made (API and cached).
    n_cached_calls : int
    dollars : float
        Dollars actually spent (cache hits cost nothing).
    estimate : CostEstimate
        The estimate for all rows, made before any call.
    n_unusable : int
        Rows in batches whose reply could not be parsed.
    n_unusable_replies : int
        Replies that could not be parsed (each leaves its whole batch unlabeled).
    n_unannotated : int
        Rows never sent: all of them in a dry run, the rest once the budget cap is hit.
    budget_exhausted : bool
        True when the cap stopped the run early.
    dry_run : bool
    """

    labels: np.ndarray
    n_calls: int
    n_cached_calls: int
    dollars: float
    estimate: CostEstimate
    n_unusable: int
    n_unannotated: int
    budget_exhausted: bool
    dry_run: bool
    n_unusable_replies: int = 0

    @property
    def n_labeled(self) -> int:
        """Rows that got a usable class (not -1) from the LLM."""
        return int((np.asarray(self.labels) >= 0).sum())


def annotate_rows(
    client: LLMClient,
    spec: TaskSpec,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    budget_usd: float,
    dry_run: bool = False,
    model: str | None = None,
    estimate: CostEstimate | None = None,
) -> AnnotationResult:
    """Label ``rows`` by asking the LLM directly, ``batch_size`` rows per call, within a budget.

    Parameters
    ----------
    client : LLMClient
    spec : TaskSpec
    rows : sequence of mappings
        Rows with the spec's input fields.
    batch_size : int
        Rows per call.
    budget_usd : float
        Hard cap on dollars spent: a call is not made when its estimated cost exceeds what is
        left. Cached batches cost nothing and always run.
    dry_run : bool
        Only estimate the cost; make no call.
    model : str, optional
        The endpoint's model when ``None``.
    estimate : CostEstimate, optional
        The estimate for exactly these rows, model and batch size (from
        :func:`estimate_labeling_cost`); made here from the rows at :func:`sample_positions`
        when ``None``, which gives the same number for the same rows.

    Returns
    -------
    AnnotationResult

    Raises
    ------
    InputError
        When an argument is out of range, or ``estimate`` is for other rows, model or batch size.
    LLMError
        When a call fails for good (the batches answered so far are cached).
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if budget_usd < 0:
        raise InputError(f"budget_usd must be >= 0, got {budget_usd}")
    model = model or client.endpoint.model
    n_rows = len(rows)
    if estimate is None:
        sample = [rows[i] for i in sample_positions(n_rows)]
        estimate = estimate_annotation_cost(spec, sample, n_rows, model, client.prices, batch_size)
    elif (estimate.n_rows, estimate.model, estimate.batch_size) != (n_rows, model, batch_size):
        raise InputError(
            f"the estimate is for {estimate.n_rows} rows with {estimate.model}, {estimate.batch_size} per call; "
            f"expected {n_rows} rows with {model}, {batch_size} per call"
        )
    labels = np.full(n_rows, ABSTAIN, dtype=np.int64)
    logger.info(
        "labeling %d rows directly with %s: %d calls, about %d+%d tokens, estimated $%.4f (budget $%.4f)",
        n_rows, model, estimate.n_calls, estimate.prompt_tokens, estimate.completion_tokens, estimate.dollars,
        budget_usd,
    )  # fmt: skip
    if dry_run:
        return AnnotationResult(labels, 0, 0, 0.0, estimate, 0, n_rows, False, True)

    price = client.price(model)
    starts = list(range(0, n_rows, batch_size))
    spent = 0.0
    n_calls = n_cached = n_unusable = n_unusable_replies = 0
    next_batch = 0
    exhausted = False
    window = client.endpoint.max_concurrency
    while next_batch < len(starts) and not exhausted:
        admitted: list[tuple[int, ChatRequest]] = []
        reserved = 0.0
        while next_batch < len(starts) and len(admitted) < window:
            start = starts[next_batch]
            batch = rows[start : start + batch_size]
            request = ChatRequest(annotate_messages(spec, batch), "annotate", model=model, temperature=0.0)
            cost = 0.0
            if not client.is_cached(request):
                cost = price.cost(estimate_message_tokens(request.messages), estimate_reply_tokens(len(batch)))
            if spent + reserved + cost > budget_usd:
                exhausted = True
                break
            admitted.append((start, request))
            reserved += cost
            next_batch += 1
        completions = client.complete_many([request for _, request in admitted])
        for (start, _), completion in zip(admitted, completions):
            n_calls += 1
            n_cached += int(completion.cached)
            spent += completion.dollars
            size = min(batch_size, n_rows - start)
            try:
                labels[start : start + size] = parse_annotation_reply(completion.text, size, spec.n_classes)
            except AnnotationReplyError as error:
                n_unusable += size
                n_unusable_replies += 1
                logger.warning("rows %d..%d stay unlabeled: %s", start, start + size - 1, error)
    n_unannotated = n_rows - min(n_rows, next_batch * batch_size)
    if exhausted:
        logger.warning(
            "budget cap hit: spent $%.4f of $%.4f; the next call would exceed it, so %d of %d rows stay unlabeled (-1)",
            spent, budget_usd, n_unannotated, n_rows,
        )  # fmt: skip
    if n_unusable_replies:
        logger.warning(
            "%d of %d replies were unusable: %d of %d rows stay unlabeled (-1)",
            n_unusable_replies, n_calls, n_unusable, n_rows,
        )  # fmt: skip
    return AnnotationResult(
        labels, n_calls, n_cached, spent, estimate, n_unusable, n_unannotated, exhausted, False, n_unusable_replies
    )
