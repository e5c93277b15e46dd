"""The paper's comparison: the same LLM labels every training row directly.

Its labels go through the same student and evaluation as the programs' pseudolabels, and
:func:`comparison_markdown` puts the two side by side: quality, calls, tokens, dollars and
the cost ratio, every cost from the run's ledger. Everything lands in ``<run>/annotation/``;
the LLM calls go to the run's ledger with purpose ``annotate``, which is also where the
budget cap of all ``annotate`` commands on a run reads what was spent so far.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from alchemist_core.data.ingest import DatasetManifest, read_gold
from alchemist_core.data.storage import Storage
from alchemist_core.errors import InputError
from alchemist_core.report.metrics import classification_metrics

logger = logging.getLogger(__name__)


def _train_rows(data: Storage, manifest: DatasetManifest, split: str, fields: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    row_ids: list[str] = []
    rows: list[dict[str, Any]] = []
    for shard in manifest.splits[split].shards:
        table = data.read_table(shard, columns=["row_id", *fields])
        row_ids.extend(table.column("row_id").to_pylist())
        rows.extend({f: r[f] for f in fields} for r in table.to_pylist())
    return row_ids, rows


def annotation_spending(entries: Sequence[Mapping[str, Any]]) -> float:
    """Dollars spent on direct labeling so far: the non-cached ``annotate`` entries of a run's ledger."""
    return float(sum(float(e.get("dollars") or 0.0) for e in entries if e.get("purpose") == "annotate" and not e.get("cached")))


def annotate_baseline(
    *,
    run: Storage,
    data: Storage,
    manifest: DatasetManifest,
    spec,
    client,
    settings: Mapping[str, Any],
    cache: Storage,
    budget_usd: float,
    dry_run: bool = False,
    batch_size: int = 20,
) -> dict[str, Any]:
    """Label the training split with the LLM directly, then distil and score a student on those labels.

    ``budget_usd`` caps all direct labeling of the run: what earlier ``annotate`` commands
    spent (the non-cached ``annotate`` entries of the run's ``ledger.jsonl``) counts against
    it, so this command may spend only what is left. Cached batches cost nothing and always run.

    Returns the annotation summary, also written to ``annotation/metrics.json`` (except in a
    dry run): ``model``, ``pool`` (the training split), ``n_rows``, ``estimate`` (the same
    estimate as the report's, see :func:`alchemist_core.annotate.estimate_labeling_cost`),
    ``budget`` (``cap``, ``spent_before``, ``left_before``, and after the calls ``spent_now``,
    ``spent_total``, ``left``); after the calls also ``n_calls``, ``n_cached_calls``,
    ``dollars`` (this command's), ``n_labeled``, ``n_unusable``, ``n_unusable_replies``,
    ``n_unannotated``, ``n_abstained`` (rows the LLM answered -1), ``budget_exhausted``,
    ``ledger`` (``programs`` and ``annotate`` totals over the run's whole ledger: the scope of
    the comparison), ``label_quality`` and ``student_test`` where gold labels allow.

    Raises
    ------
    NoUsableLabelsError
        When no training row got a usable label (``annotation/metrics.json`` says why; no
        labels and no student are written).
    """
    from alchemist_core.annotate import (
        NoUsableLabelsError,
        annotate_rows,
        estimate_labeling_cost,
    )
    from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
    from alchemist_core.llm import Ledger
    from alchemist_core.students.training import distill_and_predict

    if budget_usd < 0:
        raise InputError(f"budget_usd must be >= 0, got {budget_usd}")
    splits = {"train": settings["data"]["train_split"], "valid": settings["data"]["valid_split"], "test": settings["data"]["test_split"]}
    fields = list(settings["data"].get("fields") or spec.input_fields)
    model = client.endpoint.model
    estimate = estimate_labeling_cost(
        spec, data, manifest, splits["train"], fields, model, prices=client.prices, batch_size=batch_size
    )
    spent_before = annotation_spending(Ledger(run).entries())
    left_before = max(0.0, budget_usd - spent_before)
    budget: dict[str, Any] = {"cap": budget_usd, "spent_before": spent_before, "left_before": left_before}
    summary: dict[str, Any] = {
        "model": estimate.model,
        "pool": splits["train"],
        "n_rows": estimate.n_rows,
        "estimate": {"pool": splits["train"], **estimate.as_dict()},
        "budget": budget,
        "dry_run": dry_run,
    }
    if dry_run:
        return summary
    row_ids, rows = _train_rows(data, manifest, splits["train"], fields)
    result = annotate_rows(
        client, spec, rows, batch_size=batch_size, budget_usd=left_before, model=model, estimate=estimate
    )
    labels = np.asarray(result.labels, dtype=np.int64)
    annotated = labels >= 0
    n_labeled = int(annotated.sum())
    entries = Ledger(run).entries()
    spent_total = annotation_spending(entries)
    budget.update(spent_now=result.dollars, spent_total=spent_total, left=max(0.0, budget_usd - spent_total))
    summary.update(
        n_calls=result.n_calls,
        n_cached_calls=result.n_cached_calls,
        dollars=result.dollars,
        n_labeled=n_labeled,
        n_unusable=result.n_unusable,
        n_unusable_replies=result.n_unusable_replies,
        n_unannotated=result.n_unannotated,
        n_abstained=len(rows) - n_labeled - result.n_unusable - result.n_unannotated,
        budget_exhausted=result.budget_exhausted,
        ledger={
            "programs": ledger_totals(entries, exclude={"annotate"}),
            "annotate": ledger_totals(entries, purposes={"annotate"}),
        },
    )
    out = run.child("annotation")
    if n_labeled == 0:
        message = _no_labels_message(summary, out.uri("metrics.json"))
        summary["failed"] = message
        out.write_json(summary, "metrics.json")
        raise NoUsableLabelsError(message)
    posterior = np.full((len(labels), spec.n_classes), 1.0 / spec.n_classes)
    posterior[annotated] = np.eye(spec.n_classes)[labels[annotated]]
    # (n_rows, 1) votes: a row counts as covered where the LLM gave a usable class.
    votes = np.where(annotated, labels, -1).astype(np.int8)[:, None]
    labels_uri = out.write_table(pseudolabel_table(row_ids, posterior, votes), "labels", f"{splits['train']}.parquet")
    gold_ids, gold = read_gold(data, splits["train"])
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    y = np.asarray([lookup.get(r, -1) for r in row_ids], dtype=np.int64)
    if (y >= 0).any():
        summary["label_quality"] = classification_metrics(y, labels, spec.n_classes)
    if settings["student"]["enabled"]:
        shards = {split: list(info.shards) for split, info in manifest.splits.items()}
        student = distill_and_predict(
            pseudolabels={splits["train"]: [labels_uri]},
            data=data,
            shards=shards,
            fields=fields,
            settings=settings["student"],
            splits=splits,
            cache=cache,
            run=out,
            seed=settings["seed"],
        )
        table = Storage(student["predictions"][splits["test"]]).read_table() if splits["test"] in student["predictions"] else None
        if table is not None and manifest.splits[splits["test"]].has_gold:
            test_ids, test_gold = read_gold(data, splits["test"])
            lookup = dict(zip(test_ids.tolist(), test_gold.tolist()))
            y_test = np.asarray([lookup.get(r, -1) for r in table.column("row_id").to_pylist()], dtype=np.int64)
            summary["student_test"] = classification_metrics(y_test, table.column("label").to_numpy(), spec.n_classes)
    out.write_json(summary, "metrics.json")
    return summary


def _no_labels_message(summary: Mapping[str, Any], metrics_uri: str) -> str:
    n_rows = summary["n_rows"]
    budget = summary["budget"]
    headline = f"direct labeling with {summary['model']} got no usable label for any of the {n_rows:,} training rows"
    causes = []
    if summary["n_unusable_replies"]:
        causes.append(
            f"{summary['n_unusable_replies']:,} of {summary['n_calls']:,} replies were unusable "
            f"(not a JSON list of labels; {summary['n_unusable']:,} rows); replies are cached, so the same "
            "command gets them again: --refresh asks anew, --llm-model tries another model"
        )
    if summary["n_abstained"]:
        causes.append(f"the LLM answered -1 (no basis) for {summary['n_abstained']:,} rows")
    if summary["n_unannotated"]:
        causes.append(
            f"{summary['n_unannotated']:,} rows were never sent: the budget cap of ${budget['cap']:,.4f} for direct "
            f"labeling of this run left ${budget['left_before']:,.4f} (${budget['spent_before']:,.4f} spent by earlier "
            "annotate commands); raise --budget to send them"
        )
    if causes:
        headline += ": " + "; ".join(causes)
    return f"{headline}; no labels, student or report section were written; what happened is in {metrics_uri}"


def program_label_quality(run: Storage, data: Storage, train_split: str, n_classes: int) -> dict[str, Any] | None:
    """Accuracy of the programs' pseudolabels on the training rows with gold labels (all rows scored)."""
    from alchemist_core.labelmodel.aggregate import probs_to_preds
    from alchemist_core.labelmodel.pseudolabels import table_posterior

    folder = run.child("labels", train_split)
    names = folder.list(suffix=".parquet")
    if not names:
        return None
    table = pa.concat_tables([folder.read_table(n) for n in names])
    gold_ids, gold = read_gold(data, train_split)
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    y = np.asarray([lookup.get(r, -1) for r in table.column("row_id").to_pylist()], dtype=np.int64)
    if not (y >= 0).any():
        return None
    return classification_metrics(y, probs_to_preds(table_posterior(table), tie_break="wrench"), n_classes)


def format_ratio(ratio: float) -> str:
    """A ratio for a sentence: two significant digits below 10, a whole number from 10 up.

    Examples
    --------
    >>> [format_ratio(x) for x in (0.5625, 0.0123, 1.04, 9.94, 9.96, 12.4, 1234.0)]
    ['0.56', '0.012', '1.0', '9.9', '10', '12', '1,234']
    """
    if ratio <= 0:
        return "0"
    rounded = float(f"{ratio:.2g}")
    if rounded >= 10:
        return f"{ratio:,.0f}"
    digits = max(0, 1 - math.floor(math.log10(rounded)))
    return f"{rounded:.{digits}f}"


def cost_ratio_sentence(programs_dollars: float, direct_dollars: float) -> str | None:
    """How direct labeling's dollars compare with the programs' (both from the same ledger scope)."""
    if direct_dollars <= 0 and programs_dollars <= 0:
        return None
    if programs_dollars <= 0:
        return f"The programs cost $0 in LLM calls; direct labeling cost ${direct_dollars:,.4f}."
    if direct_dollars <= 0:
        return f"Direct labeling cost $0 in LLM calls (cached replies); the programs cost ${programs_dollars:,.4f}."
    ratio = direct_dollars / programs_dollars
    shown = format_ratio(ratio)
    if ratio > 1:
        return f"Direct labeling cost {shown}× what the programs cost (${direct_dollars:,.4f} vs. ${programs_dollars:,.4f})."
    if ratio < 1:
        return (
            f"Direct labeling was cheaper: it cost {shown}× what the programs cost "
            f"(${direct_dollars:,.4f} vs. ${programs_dollars:,.4f}; the programs cost {format_ratio(1 / ratio)}× as much)."
        )
    return f"Direct labeling cost the same as the programs (${direct_dollars:,.4f})."


def _dollars_cell(totals: Mapping[str, Any]) -> str | float | None:
    """The dollars of ledger totals, or words when some of their calls have an unknown price."""
    if not totals.get("price_unknown"):
        return totals.get("dollars")
    known = float(totals.get("dollars") or 0.0)
    return f"at least {known:.4f} (unknown price)" if known > 0 else "unknown price"


def comparison_markdown(programs: Mapping[str, Any], annotation: Mapping[str, Any]) -> str:
    """A side-by-side table: programs + label model + student vs. the LLM labeling every training row.

    ``programs`` holds the programs' quality (``label_quality``, ``student_test_accuracy``,
    ``student_test_macro_f1``); ``annotation`` is the summary of
    :func:`annotate_baseline`. Every call, token and dollar comes from ``annotation["ledger"]``:
    totals over the run's whole ledger, programs = every purpose but ``annotate``, direct
    labeling = every ``annotate`` command on the run so far.
    """

    def fmt(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.4f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    def metric(block: Mapping[str, Any] | None, key: str) -> Any:
        return None if not block else block.get(key)

    ledger = annotation.get("ledger") or {}
    spent, direct = ledger.get("programs") or {}, ledger.get("annotate") or {}
    rows = [
        ("training labels: accuracy", metric(programs.get("label_quality"), "accuracy"), metric(annotation.get("label_quality"), "accuracy")),
        ("training labels: macro-F1", metric(programs.get("label_quality"), "macro_f1"), metric(annotation.get("label_quality"), "macro_f1")),
        ("student, test: accuracy", programs.get("student_test_accuracy"), metric(annotation.get("student_test"), "accuracy")),
        ("student, test: macro-F1", programs.get("student_test_macro_f1"), metric(annotation.get("student_test"), "macro_f1")),
        ("LLM calls sent (billed)", spent.get("api_calls"), direct.get("api_calls")),
        ("cached replies (free)", spent.get("cached_calls"), direct.get("cached_calls")),
        ("prompt + completion tokens (billed)", spent.get("tokens"), direct.get("tokens")),
        ("dollars", _dollars_cell(spent), _dollars_cell(direct)),
    ]
    n_rows = int(annotation.get("n_rows") or 0)
    n_labeled = int(annotation.get("n_labeled") or 0)
    batch_size = (annotation.get("estimate") or {}).get("batch_size")
    lines = [
        "## Programs vs. direct LLM labeling",
        "",
        f"Direct labeling: {annotation.get('model')} gave a usable label to {n_labeled:,} of {n_rows:,} training rows "
        f"in the latest `annotate` command, {fmt(batch_size)} rows per call.",
    ]
    shortfalls = []
    if annotation.get("n_unusable"):
        shortfalls.append(
            f"{annotation['n_unusable']:,} rows got no label because {annotation.get('n_unusable_replies', 0):,} of "
            f"{annotation.get('n_calls', 0):,} replies were unusable (not a JSON list of labels)."
        )
    if annotation.get("n_unannotated"):
        cap = (annotation.get("budget") or {}).get("cap")
        capped = f" (${cap:,.4f} for all direct labeling of this run)" if cap is not None else ""
        shortfalls.append(f"{annotation['n_unannotated']:,} rows were never sent: the budget cap{capped} was reached.")
    if annotation.get("n_abstained"):
        shortfalls.append(f"{annotation['n_abstained']:,} rows the LLM answered -1 (no basis for any class).")
    if shortfalls:
        lines += [""] + [f"- {line}" for line in shortfalls]
        lines += ["", "Rows without a label count as wrong in the training-label accuracy; the student learned from the labeled rows only."]
    lines += [
        "",
        "Calls, tokens and dollars are totals over the run's ledger (`ledger.jsonl`): programs = every call that was "
        "not direct labeling; direct labeling = every `annotate` command on this run so far.",
        "",
        "| | programs | direct labeling (all annotate commands) |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {fmt(a)} | {fmt(b)} |" for name, a, b in rows]
    if spent.get("price_unknown") or direct.get("price_unknown"):
        sentence = ("No cost ratio: some calls were made with a model whose price is unknown (not in the price table); "
                    "give --price-table FILE, or input_price_per_1m and output_price_per_1m in the config.")  # fmt: skip
    else:
        sentence = cost_ratio_sentence(float(spent.get("dollars") or 0.0), float(direct.get("dollars") or 0.0))
    if sentence:
        lines += ["", sentence]
    return "\n".join(lines) + "\n"


def ledger_totals(entries, *, purposes: set[str] | None = None, exclude: set[str] | None = None) -> dict[str, Any]:
    """Calls, tokens and dollars of the ledger entries with (or without) the given purposes.

    ``calls`` counts every entry, ``api_calls`` those sent, ``cached_calls`` those answered from
    the cache; ``tokens`` and ``dollars`` are billed ones (cached calls cost nothing).
    """
    chosen = [
        e for e in entries
        if (purposes is None or e.get("purpose") in purposes) and (exclude is None or e.get("purpose") not in exclude)
    ]
    billed = [e for e in chosen if not e.get("cached")]
    return {
        "calls": len(chosen),
        "api_calls": len(billed),
        "cached_calls": len(chosen) - len(billed),
        "tokens": sum(int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0) for e in billed),
        "dollars": float(sum(float(e.get("dollars") or 0.0) for e in billed)),
        "price_unknown": sum(not e.get("price_known", True) for e in billed),
    }
