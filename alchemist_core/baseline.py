"""The paper's comparison: the same LLM labels every training row directly.

Its labels go through the same student and evaluation as the programs' pseudolabels, and
:func:`comparison_markdown` puts the two side by side: quality, calls, tokens, dollars and
the cost ratio. Everything lands in ``<run>/annotation/``; the LLM calls go to the run's
ledger with purpose ``annotate``.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from alchemist_core.data.ingest import DatasetManifest, read_gold
from alchemist_core.data.storage import Storage
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

    Returns the annotation summary (estimate, calls, dollars, label accuracy on the training
    rows that have gold labels, student metrics), also written to ``annotation/metrics.json``.
    """
    from alchemist_core.annotate import annotate_rows
    from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
    from alchemist_core.students.training import distill_and_predict

    splits = {"train": settings["data"]["train_split"], "valid": settings["data"]["valid_split"], "test": settings["data"]["test_split"]}
    fields = list(settings["data"].get("fields") or spec.input_fields)
    row_ids, rows = _train_rows(data, manifest, splits["train"], fields)
    result = annotate_rows(client, spec, rows, batch_size=batch_size, budget_usd=budget_usd, dry_run=dry_run)
    summary: dict[str, Any] = {
        "model": result.estimate.model,
        "n_rows": len(rows),
        "estimate": result.estimate.as_dict(),
        "dry_run": dry_run,
    }
    if dry_run:
        return summary
    labels = np.asarray(result.labels, dtype=np.int64)
    annotated = labels >= 0
    posterior = np.full((len(labels), spec.n_classes), 1.0 / spec.n_classes)
    posterior[annotated] = np.eye(spec.n_classes)[labels[annotated]]
    # (n_rows, 1) votes: a row counts as covered where the LLM gave a usable class.
    votes = np.where(annotated, labels, -1).astype(np.int8)[:, None]
    out = run.child("annotation")
    labels_uri = out.write_table(pseudolabel_table(row_ids, posterior, votes), "labels", f"{splits['train']}.parquet")
    summary.update(
        n_calls=result.n_calls,
        n_cached_calls=result.n_cached_calls,
        dollars=result.dollars,
        n_unusable=result.n_unusable,
        n_unannotated=result.n_unannotated,
        budget_exhausted=result.budget_exhausted,
    )
    gold_ids, gold = read_gold(data, splits["train"])
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    y = np.asarray([lookup.get(r, -1) for r in row_ids], dtype=np.int64)
    if (y >= 0).any():
        summary["label_quality"] = classification_metrics(y, labels, spec.n_classes)
    if settings["student"]["enabled"] and annotated.any():
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


def comparison_markdown(programs: Mapping[str, Any], annotation: Mapping[str, Any]) -> str:
    """A side-by-side table: programs + label model + student vs. the LLM labeling every row."""

    def fmt(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.4f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    def metric(block: Mapping[str, Any] | None, key: str) -> Any:
        return None if not block else block.get(key)

    rows = [
        ("training labels: accuracy", metric(programs.get("label_quality"), "accuracy"), metric(annotation.get("label_quality"), "accuracy")),
        ("training labels: macro-F1", metric(programs.get("label_quality"), "macro_f1"), metric(annotation.get("label_quality"), "macro_f1")),
        ("student, test: accuracy", programs.get("student_test_accuracy"), metric(annotation.get("student_test"), "accuracy")),
        ("student, test: macro-F1", programs.get("student_test_macro_f1"), metric(annotation.get("student_test"), "macro_f1")),
        ("LLM calls (API + cached)", programs.get("calls", 0), annotation.get("n_calls")),
        ("prompt + completion tokens", programs.get("tokens", 0), annotation.get("tokens")),
        ("dollars", programs.get("dollars", 0.0), annotation.get("dollars")),
    ]
    lines = [
        "## Programs vs. direct LLM labeling",
        "",
        f"Direct labeling: {annotation.get('model')} labeled {fmt(annotation.get('n_rows'))} training rows, "
        f"{fmt(annotation.get('estimate', {}).get('batch_size'))} per call"
        + (" (stopped at the budget cap)" if annotation.get("budget_exhausted") else "")
        + ".",
        "",
        "| | programs | direct labeling |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {fmt(a)} | {fmt(b)} |" for name, a, b in rows]
    spent, direct = programs.get("dollars", 0.0) or 0.0, annotation.get("dollars") or 0.0
    if spent > 0 and direct > 0:
        lines += ["", f"Direct labeling cost {direct / spent:,.0f}× what the programs cost."]
    elif direct > 0:
        lines += ["", f"The programs cost $0 in LLM calls; direct labeling cost ${direct:,.4f}."]
    return "\n".join(lines) + "\n"


def ledger_totals(entries, *, purposes: set[str] | None = None, exclude: set[str] | None = None) -> dict[str, Any]:
    """Calls, tokens and dollars of the ledger entries with (or without) the given purposes."""
    chosen = [
        e for e in entries
        if (purposes is None or e.get("purpose") in purposes) and (exclude is None or e.get("purpose") not in exclude)
    ]
    return {
        "calls": len(chosen),
        "tokens": sum(int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0) for e in chosen if not e.get("cached")),
        "dollars": float(sum(float(e.get("dollars") or 0.0) for e in chosen)),
    }
