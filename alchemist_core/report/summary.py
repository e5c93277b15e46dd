"""Assemble a run's results for the report and ``metrics.json`` from its artifacts.

Gold labels are read here, for evaluation only: they never reach a program, a label model
fit or a student fit. The test split is scored, never used for a choice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from alchemist_core.data.ingest import DatasetManifest, read_gold
from alchemist_core.data.storage import Storage
from alchemist_core.labelmodel.aggregate import probs_to_preds
from alchemist_core.labelmodel.pseudolabels import table_posterior
from alchemist_core.programs.label_matrix import program_summary
from alchemist_core.programs.vote_shards import read_label_matrix
from alchemist_core.refs import (
    DatasetRef,
    LabelModelRef,
    ProgramSetRef,
    RunContext,
    RunOutputs,
    RunReport,
    StudentRef,
    VoteSet,
)
from alchemist_core.report.metrics import classification_metrics

if TYPE_CHECKING:
    from alchemist_core.llm.pricing import PriceTable

logger = logging.getLogger(__name__)


def _aligned_gold(data: Storage, split: str, row_ids: np.ndarray) -> np.ndarray:
    gold_ids, gold = read_gold(data, split)
    if len(gold_ids) == len(row_ids) and np.array_equal(gold_ids.astype(str), row_ids.astype(str)):
        return gold
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    return np.asarray([lookup.get(r, -1) for r in row_ids.tolist()], dtype=np.int64)


def _metric_row(model: str, split: str, y: np.ndarray, pred: np.ndarray, n_classes: int, **extra: Any) -> dict[str, Any]:
    scores = classification_metrics(y, pred, n_classes)
    row = {"model": model, "split": split, **{k: v for k, v in scores.items() if k in ("accuracy", "macro_f1", "binary_f1")}}
    row.update(extra)
    return row


def full_labeling_estimate(
    spec,
    data: Storage,
    manifest: DatasetManifest,
    fields: Sequence[str],
    model: str,
    *,
    pool: str,
    prices: PriceTable | None = None,
    batch_size: int | None = None,
) -> dict[str, Any] | None:
    """What labeling every row of the ``pool`` split with ``model`` directly would cost (no call is made).

    The same estimate as ``alchemist annotate`` makes (dry run or not) for the same run, model
    and batch size: :func:`alchemist_core.annotate.estimate_labeling_cost`.

    Parameters
    ----------
    spec : TaskSpec
    data : Storage
    manifest : DatasetManifest
    fields : sequence of str
    model : str
    pool : str
        The split to price: the training split, which ``annotate`` labels.
    prices : PriceTable, optional
        The shipped price table when ``None``.
    batch_size : int, optional
        Rows per call; ``annotate``'s default when ``None``.

    Returns
    -------
    dict or None
        ``model``, ``pool``, ``n_rows``, ``n_calls``, ``batch_size``, ``prompt_tokens``,
        ``completion_tokens``, ``dollars``, ``price_known``, ``price_table_date``, ``method``;
        ``None`` when the pool is missing or empty.
    """
    from alchemist_core.annotate import DEFAULT_BATCH_SIZE, estimate_labeling_cost

    if pool not in manifest.splits or manifest.splits[pool].n_rows == 0:
        return None
    estimate = estimate_labeling_cost(
        spec, data, manifest, pool, fields, model, prices=prices,
        batch_size=DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
    )  # fmt: skip
    return {"pool": pool, **estimate.as_dict()}


def collect_results(
    *,
    spec,
    run_info: Mapping[str, Any],
    manifest: DatasetManifest,
    data: Storage,
    run: Storage,
    programs: ProgramSetRef,
    votes: VoteSet,
    label_model: LabelModelRef,
    pseudolabels: Mapping[str, Sequence[str]],
    student: StudentRef | None,
    settings: Mapping[str, Any],
    selection: Any = None,
    final: Mapping[str, str] | None = None,
    prices: PriceTable | None = None,
) -> dict[str, Any]:
    """Results shaped like :class:`alchemist_core.report.render.ReportResults`, plus a flat ``summary``.

    ``cost.full_labeling`` is the estimate of labeling every training row with the run's LLM
    (:func:`full_labeling_estimate`), priced with ``prices`` (the shipped table when ``None``).

    With a ``selection`` (the run's out-of-fold choices), the label model and the student are
    refitted with the valid split's labels, so their scores there would be in-sample: the valid
    split is then shown by the out-of-fold scores of the selection, and the other splits by the
    refitted models and the ``final`` labels.
    """
    n_classes = spec.n_classes
    splits = {"train": settings["data"]["train_split"], "valid": settings["data"]["valid_split"], "test": settings["data"]["test_split"]}
    names = list(programs.names or votes.active)
    origins: dict[str, str] = {}
    manifest_entries: list[Mapping[str, Any]] = []
    if programs.uri:
        manifest_entries = Storage(programs.uri).read_json("manifest.json")["programs"]
        for entry in manifest_entries:
            origin = entry.get("origin", {})
            origins[entry["name"]] = ":".join(str(x) for x in (origin.get("generator", "?"), origin.get("model")) if x)
    else:
        origins = {name: "dataset weak labels" for name in names}

    program_rows: dict[str, dict[str, Any]] = {}
    metrics: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for role, split in splits.items():
        if split not in votes.shards:
            continue
        row_ids, L, _ = read_label_matrix(votes.split_shards(split), names)
        has_gold = manifest.splits[split].has_gold if split in manifest.splits else False
        gold = _aligned_gold(data, split, row_ids) if has_gold else None
        per_program = program_summary(L, names, gold, n_classes=n_classes)
        covered = (L != -1).any(axis=1) if L.shape[1] else np.zeros(len(L), dtype=bool)
        summary[f"coverage.{split}"] = round(float(covered.mean()) if len(covered) else 0.0, 4)
        for entry in per_program:
            row = program_rows.setdefault(entry["name"], {"name": entry["name"], "origin": origins.get(entry["name"], "?"), "accuracy": {}})
            if role == "train":
                row.update(coverage=entry["coverage"], overlap=entry["overlap"], conflict=entry["conflict"])
            # Programs mined from the valid rows would score in-sample there: only other splits judge them.
            if gold is not None and role != "train" and not (role == "valid" and programs.valid_rows_seen):
                row["accuracy"][split] = entry.get("accuracy")
        if gold is None or role == "train" or split not in pseudolabels:
            continue
        if selection is not None and role == "valid":
            metrics += _out_of_fold_rows(selection, split)
            continue
        pseudo = pa.concat_tables([Storage(uri).read_table() for uri in pseudolabels[split]])
        pred = probs_to_preds(table_posterior(pseudo), tie_break="wrench")
        metrics.append(_metric_row("label model", split, gold, pred, n_classes, coverage=summary[f"coverage.{split}"]))
        if student and split in student.predictions:
            table = Storage(student.predictions[split]).read_table()
            student_gold = _aligned_gold(data, split, table.column("row_id").to_numpy(zero_copy_only=False))
            metrics.append(_metric_row("student", split, student_gold, table.column("label").to_numpy(), n_classes))
        if final and split in final:
            table = Storage(final[split]).read_table()
            final_gold = _aligned_gold(data, split, table.column("row_id").to_numpy(zero_copy_only=False))
            metrics.append(_metric_row("final labels", split, final_gold, table.column("label").to_numpy(), n_classes))

    faults = votes.faults
    quarantined = votes.quarantined
    for name, row in program_rows.items():
        fault = faults.get(name, {})
        row["faults"] = {"errors": fault.get("n_errors", 0), "invalid": fault.get("n_invalid", 0), "timed_out": int(bool(fault.get("timed_out")))}
        row["quarantined"] = quarantined.get(name)
    for row in metrics:
        for key in ("accuracy", "macro_f1", "binary_f1"):
            if row.get(key) is not None:
                model = row["model"].replace(" (out of fold)", "").replace(" ", "_")
                split_key = f"{row['split']}_out_of_fold" if row["model"].endswith("(out of fold)") else row["split"]
                summary[f"{model}.{split_key}.{key}"] = round(float(row[key]), 4)
    if selection is not None:
        summary["selection.winner"] = selection.winner
        summary["selection.metric"] = selection.chosen_by
        summary["selection.label_model"] = selection.label_model
        summary["selection.n_folds"] = selection.n_folds
        summary["selection.warnings"] = len(selection.warnings)
        for key, value in (selection.corrected or {}).items():
            if value is not None:
                # The winner's out-of-fold score corrected for having been picked among the candidates.
                summary[f"selection.corrected.{key}"] = round(float(value), 4)

    cost: dict[str, Any] = {}
    if run.exists("ledger.jsonl"):
        from alchemist_core.llm import Ledger

        cost["ledger"] = Ledger(run).entries()
    llm_model = _llm_settings(settings)["model"]
    fields = settings["data"].get("fields") or spec.input_fields
    try:
        estimate = full_labeling_estimate(spec, data, manifest, fields, llm_model, pool=splits["train"], prices=prices)
    except Exception as error:  # noqa: BLE001 - an estimate must never break a report
        logger.warning("could not estimate the cost of labeling every row: %s", error)
        estimate = None
    if estimate:
        cost["full_labeling"] = estimate
    if programs.rejected:
        summary["programs.rejected"] = len(programs.rejected)
    valid_rows_seen = int(programs.valid_rows_seen or 0)
    summary["generator.valid_rows_seen"] = valid_rows_seen
    summary["programs.active"] = len(votes.active)
    summary["programs.quarantined"] = len(quarantined)
    summary["programs.dropped"] = len(votes.dropped)

    distribution, confusion = _label_figures_data(data, manifest, splits, pseudolabels, final, n_classes, selection is not None)
    distribution["class_names"] = list(spec.class_names)
    return {
        "distribution": distribution,
        "confusion": confusion,
        "title": f"Alchemist run {run_info['run_id']}: {spec.name}",
        "run": {"run_id": run_info["run_id"], "created": run_info.get("started_at", ""), "config": settings},
        "dataset": {
            "name": manifest.name,
            "digest": manifest.digest[:16],
            "n_classes": n_classes,
            "class_names": spec.class_names,
            "rows": {split: info.n_rows for split, info in manifest.splits.items()},
        },
        "programs": list(program_rows.values()),
        "label_model": {
            "chosen": label_model.name, "metric": label_model.metric or "accuracy",
            "scores": dict(label_model.valid_scores),
        },
        "student": _student_summary(student),
        "selection": None if selection is None else selection.to_json(),
        "metrics": metrics,
        "generation": {"generator": settings["generator"]["kind"], "valid_rows_seen": valid_rows_seen, "valid_split": splits["valid"]},
        "sampling": sampling_summary(programs, manifest_entries, settings["generator"]["n_programs"]),
        "cost": cost,
        "rejected": [r.model_dump() for r in programs.rejected],
        "dropped": [{"name": name, "reason": reason} for name, reason in votes.dropped.items()],
        "summary": summary,
    }


def _llm_settings(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run's LLM settings as a dict: its ``generator.openai`` section, or the defaults when it has none."""
    from alchemist_core.config import OpenAIConfig

    return settings["generator"].get("openai") or OpenAIConfig().model_dump(mode="json")


def _label_figures_data(
    data: Storage,
    manifest: DatasetManifest,
    splits: Mapping[str, str],
    pseudolabels: Mapping[str, Sequence[str]],
    final: Mapping[str, str] | None,
    n_classes: int,
    refit_on_valid: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Class counts (training labels against valid gold) and confusion matrices of the final labels."""
    def labels_of(split: str) -> tuple[np.ndarray, np.ndarray] | None:
        if final and split in final:
            table = Storage(final[split]).read_table(columns=["row_id", "label"])
            return table.column("row_id").to_numpy(zero_copy_only=False), table.column("label").to_numpy()
        if split in pseudolabels:
            table = pa.concat_tables([Storage(uri).read_table() for uri in pseudolabels[split]])
            return table.column("row_id").to_numpy(zero_copy_only=False), probs_to_preds(table_posterior(table), tie_break="wrench")
        return None

    series: dict[str, list[int]] = {}
    train = labels_of(splits["train"])
    if train is not None:
        name = "final labels (train)" if final and splits["train"] in final else "pseudolabels (train)"
        series[name] = np.bincount(train[1][train[1] >= 0], minlength=n_classes)[:n_classes].tolist()
    valid = splits["valid"]
    if valid in manifest.splits and manifest.splits[valid].has_gold:
        _, gold = read_gold(data, valid)
        series[f"gold ({valid})"] = np.bincount(gold[gold >= 0], minlength=n_classes)[:n_classes].tolist()
    confusion: dict[str, Any] = {}
    for role in ("valid", "test"):
        split = splits[role]
        if split not in manifest.splits or not manifest.splits[split].has_gold:
            continue
        predicted = labels_of(split)
        if predicted is None:
            continue
        gold = _aligned_gold(data, split, predicted[0])
        keep = (gold >= 0) & (predicted[1] >= 0)
        matrix = np.zeros((n_classes, n_classes), dtype=int)
        np.add.at(matrix, (gold[keep], predicted[1][keep]), 1)
        confusion[split] = {"matrix": matrix.tolist(), "in_sample": role == "valid" and refit_on_valid}
    return {"series": series}, confusion


_SAMPLING_KEYS = ("model", "supplement_kind", "temperature", "seed", "prompt_variant", "repairs", "dollars", "price_known", "cached")


def sampling_summary(programs: ProgramSetRef, manifest_entries: Sequence[Mapping[str, Any]], requested: int) -> dict[str, Any]:
    """The report's account of an LLM generation: rounds, duplicates, budget refusals and every kept
    program's sampling settings, read from the program manifest (empty for generators without an LLM)."""
    details = programs.details or {}
    sampled = [entry for entry in manifest_entries if "temperature" in (entry.get("origin") or {})]
    if not sampled and not details.get("rounds"):
        return {}
    return {
        "requested": requested,
        "kept": len(programs.names),
        "rounds": list(details.get("rounds") or []),
        "duplicates": list(details.get("duplicates") or []),
        "refused_by_budget": int(details.get("n_refused_by_budget") or 0),
        "budget": dict(details.get("budget") or {}),
        "programs": [
            {"name": entry["name"], **{k: entry["origin"].get(k) for k in _SAMPLING_KEYS}} for entry in sampled
        ],
    }


def _out_of_fold_rows(selection: Any, split: str) -> list[dict[str, Any]]:
    """The valid split's metric rows of a run that chose out of fold: the winner's and the label model's."""
    from alchemist_core.selection import LABEL_MODEL_FINAL

    rows = []
    for model, score in (
        ("final labels (out of fold)", selection.winner_score),
        ("label model (out of fold)", next((s for s in selection.label_models if s.name == selection.label_model), None)),
    ):
        if score is None or (model.startswith("label model") and selection.winner == LABEL_MODEL_FINAL and not selection.fallback_student):
            continue
        row = {"model": model, "split": split, "accuracy": score.accuracy, "macro_f1": score.macro_f1}
        if score.binary_f1 is not None:
            row["binary_f1"] = score.binary_f1
        rows.append(row)
    return rows


def _student_summary(student: StudentRef | None) -> dict[str, Any]:
    """The report's student section: what was chosen, by what, among what (empty without one)."""
    if not student or not student.chosen:
        return {}
    chosen = student.chosen
    return {"chosen": f"{chosen['model']}/{chosen['features']}/{chosen['rows']}", "fit_rows": student.n_train_rows}


def write_run_report(run: RunContext, dataset: DatasetRef, outputs: RunOutputs, settings: Mapping[str, Any]) -> RunReport:
    """Collect the run's results and write ``metrics.json``, ``manifest.json`` and ``report.md``.

    ``settings`` is the run's configuration as JSON (shown in the report).
    """
    from alchemist_core.llm.setup import prices_for
    from alchemist_core.report.render import render_report

    results = collect_results(
        spec=run.spec, run_info=run.info(), manifest=dataset.manifest, data=dataset.data, run=run.run,
        programs=outputs.programs, votes=outputs.votes, label_model=outputs.label_model,
        pseudolabels={split: list(uris) for split, uris in outputs.pseudolabels.shards.items()}, student=outputs.student,
        settings=settings, selection=outputs.selection, final=dict(outputs.final.shards) if outputs.final else None,
        prices=prices_for(_llm_settings(settings)),
    )  # fmt: skip
    folder = run.run
    folder.write_json(results["summary"], "metrics.json")
    text = render_report(results)
    for key, title in (("dropped", "Programs left out of the label model"), ("rejected", "Rejected programs")):
        if results.get(key):
            lines = ["", f"## {title}", ""] + [f"- `{r['name']}`: {r['reason']}" for r in results[key]]
            text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    folder.write_json({"run": results["run"], "dataset": results["dataset"], "metrics": results["summary"]}, "manifest.json")
    from alchemist_core.report.html import render_html

    page = folder.write_text(render_html(results, text), "report.html")
    return RunReport(report=folder.write_text(text, "report.md"), summary=results["summary"], sections=results, html=page)
