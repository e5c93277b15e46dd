"""Prefect artifacts of a run: what the UI's Artifacts tab shows beside the flow run.

Keys are stable per task spec (``<spec>-programs``, ``<spec>-metrics``, ...), so the
Artifacts page keeps a version history across runs; each version links to its flow run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_table_artifact,
)

from alchemist_core.data.storage import open_storage
from alchemist_core.refs import RunReport
from tasks.caching import artifact_key
from tasks.progress import STAGE_HOOKS


def _number(value: Any) -> Any:
    return round(float(value), 4) if isinstance(value, float) else value


def program_rows(programs: Sequence[Mapping[str, Any]], dropped: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One table row per program: origin, coverage, overlap, conflict, accuracy per split, faults, status."""
    dropped = dropped or {}
    rows = []
    for program in programs:
        faults = program.get("faults", {})
        status = "quarantined" if program.get("quarantined") else "dropped" if program["name"] in dropped else "active"
        row = {
            "program": program["name"],
            "origin": program.get("origin", ""),
            "status": status,
            "coverage": _number(program.get("coverage")),
            "overlap": _number(program.get("overlap")),
            "conflict": _number(program.get("conflict")),
        }
        for split, accuracy in sorted((program.get("accuracy") or {}).items()):
            row[f"accuracy_{split}"] = _number(accuracy)
        row.update(errors=faults.get("errors", 0), invalid=faults.get("invalid", 0), timed_out=faults.get("timed_out", 0))
        rows.append(row)
    return rows


def cost_rows(cost: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cost ledger per model, a total, and the estimate of labeling every row with the LLM."""
    by_model: dict[str, dict[str, Any]] = {}
    for entry in cost.get("ledger", []):
        stats = by_model.setdefault(
            str(entry.get("model", "?")),
            {"item": str(entry.get("model", "?")), "calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "dollars": 0.0},
        )
        stats["calls"] += 1
        stats["cached"] += int(bool(entry.get("cached")))
        stats["prompt_tokens"] += int(entry.get("prompt_tokens") or 0)
        stats["completion_tokens"] += int(entry.get("completion_tokens") or 0)
        stats["dollars"] += float(entry.get("dollars") or 0.0)
        if not entry.get("price_known", True) and not entry.get("cached"):
            stats["item"] = f"{entry.get('model', '?')} (price unknown)"
    rows = list(by_model.values())
    unknown = any(r["item"].endswith("(price unknown)") for r in rows)
    for row in rows:
        row["dollars"] = None if row["item"].endswith("(price unknown)") else round(row["dollars"], 6)
    rows.append(
        {
            "item": "this run (total" + (", prices of some models unknown)" if unknown else ")"),
            **{k: sum(r[k] for r in by_model.values()) for k in ("calls", "cached", "prompt_tokens", "completion_tokens")},
            "dollars": round(sum(r["dollars"] or 0.0 for r in rows), 6),
        }
    )
    estimate = cost.get("full_labeling")
    if estimate:
        known = estimate.get("price_known", True)
        pool = f"the {estimate.get('n_rows')} rows of the {estimate.get('pool')!r} split" if estimate.get("pool") else f"all {estimate.get('n_rows')} rows"
        rows.append(
            {
                "item": f"labeling {pool} with {estimate.get('model')} (estimate{'' if known else ', price unknown'})",
                "calls": estimate.get("n_calls"), "cached": None, "prompt_tokens": None, "completion_tokens": None,
                "dollars": round(float(estimate.get("dollars") or 0.0), 6) if known else None,
            }
        )  # fmt: skip
    return rows


def label_model_markdown(label_model: Mapping[str, Any], summary: Mapping[str, Any], title: str) -> str:
    """The chosen label model, its scores on the valid split, and the programs it aggregated."""
    lines = [f"# {title}", "", f"Chosen label model: **{label_model.get('chosen', label_model.get('name', '?'))}**", ""]
    scores = label_model.get("scores") or label_model.get("valid_scores") or {}
    if scores:
        lines += ["| label model | valid score |", "|---|---|"]
        lines += [f"| {name} | {_number(score)} |" for name, score in scores.items()]
        lines.append("")
    counts = {k.split(".", 1)[1]: v for k, v in summary.items() if k.startswith("programs.")}
    if counts:
        lines.append("Programs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".")
    return "\n".join(lines) + "\n"


def link_uri(uri: str) -> str:
    """A clickable URI: local paths become ``file://`` URIs."""
    return uri if "://" in uri else Path(uri).resolve().as_uri()


@task(**STAGE_HOOKS, name="publish-artifacts", persist_result=False)
def publish_run_artifacts(report: RunReport, spec_name: str) -> list[str]:
    """Table and markdown artifacts of a labeling run, and a link to its report; returns their keys."""
    results, report_uri = report.sections, report.report
    dropped = {row["name"]: row["reason"] for row in results.get("dropped", [])}
    title = results.get("title", spec_name)
    keys = {part: artifact_key(spec_name, part) for part in ("programs", "label-model", "metrics", "cost", "report")}
    create_table_artifact(
        program_rows(results["programs"], dropped), key=keys["programs"], description=f"Programs of {title}: coverage and accuracy"
    )
    if results.get("selection"):
        from alchemist_core.report.render import selection_section

        create_markdown_artifact(
            f"# {title}\n\n" + selection_section(results["selection"]) + "\n", key=keys["label-model"],
            description="How the final labels were chosen: every candidate's out-of-fold scores",
        )  # fmt: skip
    else:
        create_markdown_artifact(
            label_model_markdown(results["label_model"], results["summary"], title), key=keys["label-model"],
            description="Label model summary",
        )  # fmt: skip
    metrics = [{k: _number(v) for k, v in row.items()} for row in results.get("metrics", [])]
    create_table_artifact(metrics or [{"model": "none", "note": "no split with gold labels"}], key=keys["metrics"], description="Metrics")
    create_table_artifact(cost_rows(results.get("cost", {})), key=keys["cost"], description="Cost ledger")
    parent, name = report_uri.rsplit("/", 1)
    text = open_storage(parent).read_text(name)
    page = f"[report.html, with figures]({link_uri(report.html)}) · [report.md]({link_uri(report_uri)})\n\n" if report.html else ""
    create_markdown_artifact(page + text, key=keys["report"], description=f"Report of {title}")
    return list(keys.values())
