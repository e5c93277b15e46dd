"""Results of an image run: accuracy, per-group and worst-group accuracy, next to CLIP zero-shot.

A group is a (gold class, group attribute) pair, as in Waterbirds (landbird on water, ...).
A labeler that keys on a spurious attribute does well on the large groups and badly on the
small ones, which the average hides and the worst-group accuracy shows. The paper reports
each method as average accuracy / worst-group accuracy / gap (their difference).

Gold labels and groups are read here for evaluation only; the test split is scored, never
used for a choice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from alchemist_core.data.storage import Storage
from alchemist_core.refs import (
    ConceptSetRef,
    FeatureSetRef,
    LabelModelRef,
    ProgramSetRef,
    StudentRef,
    VoteSet,
)

logger = logging.getLogger(__name__)

GROUP_SEPARATOR = " / "


def group_names(y: Sequence[int], attributes: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    """``"<class> / <attribute>"`` per row (object array); ``None`` where the class or attribute is unknown.

    Examples
    --------
    >>> group_names([0, 1, -1], ["water", None, "land"], ["landbird", "waterbird"]).tolist()
    ['landbird / water', None, None]
    """
    names = np.full(len(y), None, dtype=object)
    for i, (label, attribute) in enumerate(zip(y, attributes)):
        if label is not None and int(label) >= 0 and attribute is not None:
            names[i] = f"{class_names[int(label)]}{GROUP_SEPARATOR}{attribute}"
    return names


def group_metrics(y: Sequence[int], pred: Sequence[int], groups: Sequence[Any]) -> dict[str, Any] | None:
    """Accuracy per group, the worst group's, and the gap to the average accuracy.

    Parameters
    ----------
    y : array-like of int
        Gold labels, -1 where unknown (left out).
    pred : array-like of int
        Predictions; -1 (abstain) counts as wrong.
    groups : array-like
        Each row's group name, ``None`` where unknown (left out of the groups, not of the average).

    Returns
    -------
    dict or None
        ``accuracy`` (over rows with gold), ``worst_group_accuracy``, ``worst_group``,
        ``gap`` (accuracy minus worst-group accuracy) and ``groups``
        (name -> ``{"accuracy", "n_rows"}``, sorted by name); ``None`` when no row has both a
        gold label and a group.

    Examples
    --------
    >>> result = group_metrics([0, 0, 0, 1], [0, 0, 0, 0], ["a", "a", "a", "b"])
    >>> result["accuracy"], result["worst_group"], result["worst_group_accuracy"]
    (0.75, 'b', 0.0)
    """
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    groups = np.asarray(groups, dtype=object)
    if not (y.shape == pred.shape == groups.shape):
        raise ValueError(f"expected y, pred and groups of one length, got {y.shape}, {pred.shape} and {groups.shape}")
    known = y >= 0
    grouped = known & np.array([g is not None for g in groups], dtype=bool)
    if not grouped.any():
        return None
    correct = pred == y
    per_group = {}
    for name in sorted({str(g) for g in groups[grouped]}):
        rows = grouped & (groups == name)
        per_group[name] = {"accuracy": float(correct[rows].mean()), "n_rows": int(rows.sum())}
    worst = min(per_group, key=lambda name: (per_group[name]["accuracy"], name))
    accuracy = float(correct[known].mean())
    return {
        "accuracy": accuracy,
        "worst_group_accuracy": per_group[worst]["accuracy"],
        "worst_group": worst,
        "gap": accuracy - per_group[worst]["accuracy"],
        "groups": per_group,
    }


def _aligned(row_ids: np.ndarray, reference_ids: np.ndarray, values: np.ndarray, fill: Any) -> np.ndarray:
    if len(row_ids) == len(reference_ids) and np.array_equal(row_ids.astype(str), reference_ids.astype(str)):
        return values
    lookup = dict(zip(reference_ids.tolist(), values.tolist()))
    return np.asarray([lookup.get(r, fill) for r in row_ids.tolist()], dtype=values.dtype)


def _concat(uris: Sequence[str]) -> pa.Table:
    return pa.concat_tables([Storage(uri).read_table() for uri in uris])


def collect_image_results(
    *,
    spec: Any,
    run_info: Mapping[str, Any],
    dataset: Any,
    data: Storage,
    features: FeatureSetRef,
    concepts: ConceptSetRef,
    programs: ProgramSetRef,
    votes: VoteSet,
    label_model: LabelModelRef,
    pseudolabels: Mapping[str, Sequence[str]],
    student: StudentRef | None,
    run: Storage,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """Results shaped like :class:`alchemist_core.report.render.ReportResults`, plus ``groups``, ``concepts``, ``images`` and ``summary``."""
    from alchemist_core.data.ingest import read_gold
    from alchemist_core.images.dataset import read_groups
    from alchemist_core.images.pipeline import ZERO_SHOT_PREFIX, read_features
    from alchemist_core.labelmodel.aggregate import probs_to_preds
    from alchemist_core.labelmodel.pseudolabels import table_posterior
    from alchemist_core.programs.label_matrix import program_summary
    from alchemist_core.programs.vote_shards import read_label_matrix
    from alchemist_core.report.metrics import classification_metrics

    n_classes = spec.n_classes
    class_names = spec.class_names
    manifest = dataset.manifest
    data_settings = settings["data"]
    roles = {"train": data_settings["train_split"], "valid": data_settings["valid_split"], "test": data_settings["test_split"]}
    names = list(programs.names or votes.active)
    origins = {}
    if programs.uri:
        for entry in Storage(programs.uri).read_json("manifest.json")["programs"]:
            origin = entry.get("origin", {})
            origins[entry["name"]] = ":".join(str(x) for x in (origin.get("generator", "?"), origin.get("model")) if x)

    # With programs fitted to the valid rows and regenerated per fold for the label model's choice,
    # the valid split is shown only through out-of-fold scores: the final programs', label
    # model's and student's own scores there would be in-sample.
    selection = run.read_json("selection.json") if run.exists("selection.json") else None
    valid_out_of_fold = bool(programs.valid_rows_seen) and bool(selection and selection.get("fold_programs"))
    program_rows: dict[str, dict[str, Any]] = {}
    metrics: list[dict[str, Any]] = []
    group_rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for role, split in roles.items():
        if split not in votes.shards:
            continue
        row_ids, L, _ = read_label_matrix(votes.split_shards(split), names)
        has_gold = split in manifest.splits and manifest.splits[split].has_gold
        gold = None
        if has_gold:
            gold_ids, gold_values = read_gold(data, split)
            gold = _aligned(row_ids, gold_ids, gold_values, -1)
        covered = (L != -1).any(axis=1) if L.shape[1] else np.zeros(len(L), dtype=bool)
        summary[f"coverage.{split}"] = round(float(covered.mean()) if len(covered) else 0.0, 4)
        for entry in program_summary(L, names, gold, n_classes=n_classes):
            row = program_rows.setdefault(entry["name"], {"name": entry["name"], "origin": origins.get(entry["name"], "?"), "accuracy": {}})
            if role == "train":
                row.update(coverage=entry["coverage"], overlap=entry["overlap"], conflict=entry["conflict"])
            elif gold is not None and not (valid_out_of_fold and role == "valid"):
                row["accuracy"][split] = entry.get("accuracy")
        if gold is None or role == "train":
            continue
        group_ids, attributes = read_groups(data, split)
        groups = group_names(gold, _aligned(row_ids, group_ids, attributes, None), class_names)
        predictions = {"label model": probs_to_preds(table_posterior(_concat(pseudolabels[split])), tie_break="wrench")}
        if student and split in student.predictions:
            table = Storage(student.predictions[split]).read_table()
            ids = table.column("row_id").to_numpy(zero_copy_only=False)
            predictions["student"] = _aligned(row_ids, ids, table.column("label").to_numpy().astype(np.int64), -1)
        zero_shot_columns = [f"{ZERO_SHOT_PREFIX}{k}" for k in range(n_classes)]
        zs = read_features(Storage(features.root), features.shards[split], zero_shot_columns)
        zs_proba = np.column_stack([zs.column(c).to_numpy() for c in zero_shot_columns])
        zs_ids = zs.column("row_id").to_numpy(zero_copy_only=False)
        predictions["CLIP zero-shot"] = _aligned(row_ids, zs_ids, zs_proba.argmax(axis=1).astype(np.int64), -1)
        if valid_out_of_fold and role == "valid":
            predictions = {k: v for k, v in predictions.items() if k == "CLIP zero-shot"}
            won = next(c for c in selection["candidates"] if c["name"] == selection["winner"])
            oof = {k: won[k] for k in ("accuracy", "macro_f1", "binary_f1") if won.get(k) is not None}
            metrics.append({"model": "label model (out of fold)", "split": split, **oof})
            summary[f"label_model.{split}_out_of_fold.accuracy"] = round(float(oof["accuracy"]), 4)
        for model, pred in predictions.items():
            scores = classification_metrics(gold, pred, n_classes)
            row = {"model": model, "split": split, **{k: scores[k] for k in ("accuracy", "macro_f1", "binary_f1") if k in scores}}
            metrics.append(row)
            key = model.replace(" ", "_").replace("-", "_").lower()
            summary[f"{key}.{split}.accuracy"] = round(float(scores["accuracy"]), 4)
            by_group = group_metrics(gold, pred, groups)
            if by_group is not None:
                group_rows.append({"model": model, "split": split, **by_group})
                summary[f"{key}.{split}.worst_group_accuracy"] = round(by_group["worst_group_accuracy"], 4)

    faults = votes.faults
    quarantined = votes.quarantined
    for name, row in program_rows.items():
        fault = faults.get(name, {})
        row["faults"] = {"errors": fault.get("n_errors", 0), "invalid": fault.get("n_invalid", 0), "timed_out": int(bool(fault.get("timed_out")))}
        row["quarantined"] = quarantined.get(name)
    valid_rows_seen = int(programs.valid_rows_seen or 0)
    summary["generator.valid_rows_seen"] = valid_rows_seen
    summary["programs.active"] = len(votes.active)
    summary["programs.quarantined"] = len(quarantined)
    summary["programs.dropped"] = len(votes.dropped)
    if programs.rejected:
        summary["programs.rejected"] = len(programs.rejected)
    summary["images.skipped"] = dataset.info.total_skipped

    cost: dict[str, Any] = {}
    if run.exists("ledger.jsonl"):
        from alchemist_core.llm import Ledger

        cost["ledger"] = Ledger(run).entries()
    return {
        "title": f"Alchemist image run {run_info['run_id']}: {spec.name}",
        "run": {"run_id": run_info["run_id"], "created": run_info.get("started_at", ""), "config": settings},
        "dataset": {
            "name": manifest.name,
            "digest": manifest.digest[:16],
            "n_classes": n_classes,
            "class_names": class_names,
            "rows": {split: info.n_rows for split, info in manifest.splits.items()},
        },
        "programs": list(program_rows.values()),
        "label_model": {
            "chosen": label_model.name, "metric": label_model.metric or "accuracy",
            "scores": dict(label_model.valid_scores),
        },
        "metrics": metrics,
        "generation": {
            "generator": f"concept {(settings.get('generator') or {}).get('kind', '')}".strip(),
            "valid_rows_seen": valid_rows_seen,
            "valid_split": roles["valid"],
            "valid_out_of_fold": valid_out_of_fold,
        },
        "groups": group_rows,
        "concepts": {**Storage(concepts.uri).read_json(), "clip": features.model},
        "images": dataset.info.to_json(),
        "cost": cost,
        "rejected": [r.model_dump() for r in programs.rejected],
        "dropped": [{"name": name, "reason": reason} for name, reason in votes.dropped.items()],
        "summary": summary,
    }


def write_image_run_report(run: Any, dataset: Any, outputs: Any, settings: Mapping[str, Any]) -> Any:
    """Collect the image run's results; write ``metrics.json``, ``manifest.json`` and ``report.md``.

    ``run``, ``dataset`` and ``outputs`` are the run's :class:`~alchemist_core.refs.RunContext`,
    :class:`~alchemist_core.refs.ImageDatasetRef` and :class:`~alchemist_core.refs.ImageRunOutputs`;
    ``settings`` its configuration as JSON. Returns a :class:`~alchemist_core.refs.RunReport`.
    """
    from alchemist_core.refs import RunReport

    folder = run.run
    results = collect_image_results(
        spec=run.spec, run_info=run.info(), dataset=dataset.dataset, data=dataset.data, features=outputs.features,
        concepts=outputs.concepts, programs=outputs.programs, votes=outputs.votes, label_model=outputs.label_model,
        pseudolabels={split: list(uris) for split, uris in outputs.pseudolabels.shards.items()}, student=outputs.student,
        run=folder, settings=settings,
    )  # fmt: skip
    folder.write_json(results["summary"], "metrics.json")
    images = {k: results["images"][k] for k in ("image_column", "n_skipped", "total_skipped", "groups")}
    folder.write_json(
        {"run": results["run"], "dataset": {**results["dataset"], "images": images}, "metrics": results["summary"]}, "manifest.json"
    )
    text = render_image_report(results)
    from alchemist_core.report.html import render_html

    page = folder.write_text(render_html(results, text), "report.html")
    report = folder.write_text(text, "report.md")
    return RunReport(report=report, summary=results["summary"], sections=results, html=page)


def _fraction(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _groups_section(rows: Sequence[Mapping[str, Any]]) -> str:
    names = sorted({name for row in rows for name in row["groups"]})
    header = ["model", "split", "average", "worst group", "gap"] + names
    lines = [
        "## Groups",
        "",
        "Groups are (class / group attribute) pairs. Average and worst-group accuracy, and their gap, as in the paper's Table 2.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---", "---"] + ["---:"] * (len(header) - 2)) + " |",
    ]
    for row in rows:
        cells = [row["model"], row["split"], _fraction(row["accuracy"]), _fraction(row["worst_group_accuracy"]), _fraction(row["gap"])]
        cells += [
            f"{_fraction(row['groups'][n]['accuracy'])} ({row['groups'][n]['n_rows']})" if n in row["groups"] else "—"
            for n in names
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _concepts_section(concepts: Mapping[str, Any]) -> str:
    class_names = concepts["class_names"]
    lines = [
        "## Concepts",
        "",
        f"From {concepts.get('source', '?')}; CLIP model `{concepts.get('clip', '?')}`. Prompt: "
        f"\"{concepts['template']}\" with subject \"{concepts['subject']}\". A score is the softmax share of a class's "
        "description within its concept, in [0, 1].",
        "",
        "| concept | " + " | ".join(class_names) + " |",
        "| --- | " + " | ".join("---" for _ in class_names) + " |",
    ]
    for concept in concepts["concepts"]:
        cells = [concept["descriptions"][name].replace("|", "/") for name in class_names]
        lines.append(f"| {concept['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _images_section(images: Mapping[str, Any]) -> str:
    lines = ["## Images skipped at ingest", ""]
    if not images.get("total_skipped"):
        return "\n".join(lines + ["None: every image could be read and decoded."])
    lines.append(f"{images['total_skipped']} images could not be used and were left out:")
    lines.append("")
    for split, reasons in images["n_skipped"].items():
        lines.append(f"- {split}: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items()))
    listed = images.get("skipped", [])
    if listed:
        lines += ["", "First skipped images:", ""]
        lines += [f"- `{entry['where']}` ({entry['split']}): {entry['reason']}, {entry.get('detail', '')}" for entry in listed[:20]]
    return "\n".join(lines)


def render_image_report(results: Mapping[str, Any]) -> str:
    """The run report: :func:`alchemist_core.report.render.render_report` plus groups, concepts and skipped images.

    The extra sections go right after the metrics (before the cost section, where there is one).
    """
    from alchemist_core.report.render import render_report

    text = render_report(results).rstrip("\n")
    extra = []
    if results.get("groups"):
        extra.append(_groups_section(results["groups"]))
    if results.get("concepts"):
        extra.append(_concepts_section(results["concepts"]))
    if results.get("images"):
        extra.append(_images_section(results["images"]))
    for key, title in (("dropped", "Programs left out of the label model"), ("rejected", "Rejected programs")):
        if results.get(key):
            extra.append("\n".join([f"## {title}", ""] + [f"- `{r['name']}`: {r['reason']}" for r in results[key]]))
    block = "\n\n".join(extra)
    for marker in ("\n\n## Cost", "\n\n## Timings"):
        if block and marker in text:
            at = text.index(marker)
            return text[:at] + "\n\n" + block + text[at:] + "\n"
    return text + ("\n\n" + block if block else "") + "\n"
