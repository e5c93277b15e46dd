"""Relabeling: a stored run's programs, label model and student applied to new data.

A labeling run leaves everything needed to label more data the same way: ``programs/``,
``label_model/`` and ``student/``. A relabel run reads them from that *source run*, applies
the programs to newly ingested data, turns the votes into pseudolabels with the stored label
model (no refit), predicts with the stored student, and writes a short report. This is what
a schedule runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from alchemist_core.config import EXECUTION_ONLY, DaskConfig, DataConfig, SandboxConfig
from alchemist_core.data.storage import Storage
from alchemist_core.digest import combine, digest_json, sha256_bytes
from alchemist_core.errors import InputError
from alchemist_core.refs import SourceRun, StudentRef, VoteSet

REQUIRED_FILES = (("spec.json",), ("programs", "manifest.json"), ("label_model", "model.pkl"), ("label_model", "summary.json"))


class RelabelConfig(BaseModel):
    """What a relabel run needs: the source run, the new data, and where to write."""

    model_config = ConfigDict(extra="forbid")

    source_run: str = Field(
        ..., min_length=1,
        description="Run folder whose programs, label model and student are applied: <storage>/runs/<run-id> (a folder or s3://...)",
    )  # fmt: skip
    data: DataConfig = Field(default_factory=DataConfig, description="The new data")
    student: bool = Field(True, description="Also predict with the source run's student, when it has one")
    sandbox: SandboxConfig | None = Field(
        None, description="Time and memory limits of the programs; the source run's when empty (so its cached votes apply)"
    )
    dask: DaskConfig = Field(default_factory=DaskConfig)
    storage: str = Field("./alchemist-runs", description="Artifact root of the new run: a local folder or s3://bucket/prefix")
    run_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]+$", description="Run folder name; derived from the config and the data when empty"
    )
    seed: int = Field(0, description="Seed of every random choice of the relabel run")

    @property
    def digest(self) -> str:
        """Digest of everything that changes results (run id, storage root and Dask placement excluded)."""
        return digest_json(self.model_dump(mode="json", exclude=set(EXECUTION_ONLY)))

    def run_digest(self, dataset_digest: str) -> str:
        """The digest naming the run: the same config on the same data lands in the same folder."""
        return combine(self.digest, dataset_digest)


def load_relabel_config(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> RelabelConfig:
    """Read a :class:`RelabelConfig` from YAML (``deployments/relabel.yaml``) and apply dotted ``overrides``.

    Overrides that are ``None`` are skipped (an unset command-line flag).

    Examples
    --------
    >>> load_relabel_config(overrides={"source_run": "runs/demo-1", "data.source": "new.csv", "student": None}).data.source
    'new.csv'
    """
    from alchemist_core.config import load_config_model

    return load_config_model(RelabelConfig, path, dict(overrides or {}), what="relabel config")


def _files_digest(storage: Storage, *parts: str) -> str:
    # Files (names with a suffix) directly under parts; sub-folders such as predictions/ are outputs.
    names = [n for n in storage.list(*parts) if "." in n]
    return combine(*(f"{n}:{sha256_bytes(storage.read_bytes(*parts, n))}" for n in names))


def read_source_run(source: Storage, sandbox: SandboxConfig | None = None) -> SourceRun:
    """What a relabel run takes from ``source``: spec, fields, sandbox limits, program set, label model and student.

    ``sandbox`` overrides the source run's sandbox limits. The student is ``None`` when the
    run has none; the selection (the run's out-of-fold choices) is ``None`` for a run that
    made none.

    Raises
    ------
    InputError
        When ``source`` lacks a file a relabel run needs.
    """
    from alchemist_core.refs import LabelModelRef, ProgramSetRef, SourceRun, StudentRef
    from alchemist_core.selection import Selection
    from alchemist_core.spec import TaskSpec

    missing = ["/".join(parts) for parts in REQUIRED_FILES if not source.exists(*parts)]
    if missing:
        raise InputError(
            f"expected a finished labeling run at {source.root} (with {', '.join('/'.join(p) for p in REQUIRED_FILES)}); "
            f"missing {missing}. Set source_run (the field of the relabel form; --source-run on the command line) "
            "to a finished run's folder, <storage>/runs/<run-id>"
        )
    spec = TaskSpec.model_validate(source.read_json("spec.json"))
    config = source.read_json("config.json") if source.exists("config.json") else {}
    fields = tuple((config.get("data") or {}).get("fields") or spec.input_fields)
    limits = sandbox if sandbox is not None else SandboxConfig.model_validate(config.get("sandbox") or {})
    manifest = source.read_json("programs", "manifest.json")
    summary = source.read_json("label_model", "summary.json")
    model_digest = summary.get("digest") or sha256_bytes(source.read_bytes("label_model", "model.pkl"))
    student = None
    if source.exists("student", "student.json"):
        meta = source.read_json("student", "student.json")
        student = StudentRef(uri=source.uri("student"), digest=_files_digest(source, "student"), fields=tuple(meta["fields"]))
    return SourceRun(
        root=source.root,
        run_id=source.root.rstrip("/").rsplit("/", 1)[-1],
        spec=spec,
        fields=fields,
        sandbox=limits,
        programs=ProgramSetRef(
            uri=source.uri("programs"), digest=manifest["digest"], names=tuple(entry["name"] for entry in manifest["programs"])
        ),
        label_model=LabelModelRef(
            uri=source.uri("label_model", "model.pkl"), digest=model_digest, name=summary["name"], programs=tuple(summary["programs"])
        ),
        student=student,
        selection=Selection.from_json(source.read_json("selection.json")) if source.exists("selection.json") else None,
    )


def student_predictions(
    student_root: Storage, data: Storage, shards: Sequence[str], *, fields: Sequence[str], cache: Storage | None = None
) -> pa.Table:
    """A stored student's predictions on data shards: ``row_id``, ``label``, ``confidence``, ``p_0..``.

    ``student_root`` is the ``student/`` folder of a run; ``cache`` (a cache root) keeps the
    embeddings of MiniLM features.
    """
    from alchemist_core.students.features import row_texts
    from alchemist_core.students.registry import load_student
    from alchemist_core.students.training import stored_student_inputs

    row_ids: list[Any] = []
    texts: list[str] = []
    for shard in shards:
        table = data.read_table(shard, columns=["row_id", *fields])
        row_ids.extend(table.column("row_id").to_pylist())
        texts.extend(row_texts(table, fields))
    X = stored_student_inputs(student_root, texts, embeddings=cache.child("embeddings") if cache else None)
    proba = load_student(student_root).predict_proba(X)  # (n_rows, n_classes)
    columns = {
        "row_id": pa.array(row_ids, type=pa.string()),
        "label": pa.array(proba.argmax(axis=1)),
        "confidence": pa.array(proba.max(axis=1).astype(np.float32)),
    }
    for k in range(proba.shape[1]):
        columns[f"p_{k}"] = pa.array(proba[:, k].astype(np.float32))
    return pa.table(columns)


def _gold_for(data: Storage, split: str, row_ids: np.ndarray) -> np.ndarray:
    from alchemist_core.data.ingest import read_gold

    gold_ids, gold = read_gold(data, split)
    lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
    return np.asarray([lookup.get(r, -1) for r in row_ids.tolist()], dtype=np.int64)


def relabel_results(
    *,
    spec,
    source: SourceRun,
    manifest,
    data: Storage,
    votes: VoteSet,
    pseudolabels: Mapping[str, Sequence[str]],
    student: StudentRef | None,
    final: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the relabel report and ``metrics.json`` say: rows, coverage, label counts, programs, agreement.

    Label counts are those of the ``final`` labels (what the source run chose out of fold:
    its label model, or its student) where given, else of the pseudolabels. Accuracy appears
    only where the new data carries gold labels.
    """
    from alchemist_core.labelmodel.pseudolabels import table_posterior
    from alchemist_core.programs.label_matrix import program_summary
    from alchemist_core.programs.vote_shards import read_label_matrix

    names = list(source.programs.names)
    splits: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    blocks: list[np.ndarray] = []
    golds: list[np.ndarray] = []
    for split, uris in pseudolabels.items():
        pseudo = pa.concat_tables([Storage(uri).read_table() for uri in uris])
        row_ids = pseudo.column("row_id").to_numpy(zero_copy_only=False)
        label = pseudo.column("label").to_numpy()
        covered = pseudo.column("covered").to_numpy(zero_copy_only=False).astype(bool)
        gold = _gold_for(data, split, row_ids) if manifest.splits[split].has_gold else np.full(len(row_ids), -1)
        final_label = label
        if final and split in final:
            final_label = Storage(final[split]).read_table().column("label").to_numpy()
        row: dict[str, Any] = {
            "split": split,
            "rows": len(row_ids),
            "coverage": round(float(covered.mean()) if len(covered) else 0.0, 4),
            "mean_confidence": round(float(pseudo.column("confidence").to_numpy().mean()) if len(row_ids) else 0.0, 4),
            "label_counts": {name: int((final_label == k).sum()) for k, name in enumerate(spec.class_names)},
            "abstained": int((final_label == -1).sum()),
        }
        known = gold >= 0
        if final and split in final and known.any():
            row["final_accuracy"] = round(float((final_label[known] == gold[known]).mean()), 4)
        if known.any():
            posterior = table_posterior(pseudo)
            row["label_model_accuracy"] = round(float((posterior.argmax(axis=1)[known] == gold[known]).mean()), 4)
        if student and split in student.predictions:
            predicted = Storage(student.predictions[split]).read_table()
            student_label = predicted.column("label").to_numpy()
            row["student_label_model_agreement"] = round(float((student_label[covered] == label[covered]).mean()) if covered.any() else 0.0, 4)
            if known.any():
                row["student_accuracy"] = round(float((student_label[known] == gold[known]).mean()), 4)
        splits.append(row)
        for key in ("coverage", "label_model_accuracy", "student_accuracy", "student_label_model_agreement", "final_accuracy"):
            if key in row:
                summary[f"{split}.{key}"] = row[key]
        summary[f"{split}.rows"] = row["rows"]
        _, L, _ = read_label_matrix(votes.split_shards(split), names)
        blocks.append(L)
        golds.append(gold)
    L_all = np.concatenate(blocks) if blocks else np.zeros((0, len(names)), dtype=np.int8)
    y_all = np.concatenate(golds) if golds else None
    per_program = program_summary(L_all, names, y_all if y_all is not None and (y_all >= 0).any() else None, n_classes=spec.n_classes)
    faults = votes.faults
    quarantined = votes.quarantined
    used = set(source.label_model.programs)
    programs = []
    for entry in per_program:
        fault = faults.get(entry["name"], {})
        programs.append(
            {
                "name": entry["name"], "coverage": entry["coverage"], "overlap": entry["overlap"], "conflict": entry["conflict"],
                "accuracy": {"all": entry.get("accuracy")} if "accuracy" in entry else {},
                "faults": {"errors": fault.get("n_errors", 0), "invalid": fault.get("n_invalid", 0), "timed_out": int(bool(fault.get("timed_out")))},
                "quarantined": quarantined.get(entry["name"]),
                "in_label_model": entry["name"] in used,
            }
        )  # fmt: skip
    summary["programs.quarantined"] = len(quarantined)
    return {
        "source": {
            "run": source.root, "programs_digest": source.programs.digest, "label_model": source.label_model.name,
            "label_model_digest": source.label_model.digest, "student": bool(student),
            "final": _final_source(source.selection.to_json() if source.selection is not None else None, bool(student)),
        },  # fmt: skip
        "dataset": {"name": manifest.name, "digest": manifest.digest[:16], "rows": {s: i.n_rows for s, i in manifest.splits.items()}},
        "splits": splits,
        "programs": programs,
        "summary": summary,
    }


def write_relabel_report(run: Any, source: SourceRun, dataset: Any, outputs: Any) -> Any:
    """Write ``metrics.json``, ``manifest.json`` and ``report.md`` of a relabel run; a :class:`~alchemist_core.refs.RunReport`.

    ``run``, ``dataset`` and ``outputs`` are the relabel run's
    :class:`~alchemist_core.refs.RunContext`, :class:`~alchemist_core.refs.DatasetRef` and
    :class:`~alchemist_core.refs.RunOutputs` (its votes, pseudolabels, student and final labels).
    """
    from alchemist_core.refs import RunReport

    results = relabel_results(
        spec=source.spec, source=source, manifest=dataset.manifest, data=dataset.data, votes=outputs.votes,
        pseudolabels={split: list(uris) for split, uris in outputs.pseudolabels.shards.items()}, student=outputs.student,
        final=dict(outputs.final.shards) if outputs.final else None,
    )  # fmt: skip
    out = run.run
    out.write_json(results["summary"], "metrics.json")
    info = run.info()
    out.write_json(
        {"run": {k: info[k] for k in ("run_id", "config_digest", "started_at", "alchemist_version")}, "source": results["source"],
         "dataset": results["dataset"], "votes_digest": outputs.votes.digest, "metrics": results["summary"]},
        "manifest.json",
    )  # fmt: skip
    text = render_relabel_report(results, run.run_id)
    from alchemist_core.report.html import render_html

    page = out.write_text(render_html(results, text), "report.html")
    report = out.write_text(text, "report.md")
    return RunReport(report=report, summary=results["summary"], sections=results, html=page)


def _final_source(selection: Mapping[str, Any] | None, has_student: bool) -> str:
    """Where the final labels come from, as the source run chose out of fold."""
    if selection is None:
        return "the student" if has_student else "the label model"
    student = selection["fallback_student"]
    if selection["winner"] == "label_model":
        return f"the label model ({selection['label_model']})" + (
            f", the student ({student}) where no program votes" if has_student and student else ""
        )
    if selection["winner"] == "blend":
        if not has_student:
            return f"the label model ({selection['label_model']}; the run chose it blended with its student, which this run does not use)"
        return f"the label model ({selection['label_model']}) and the student ({student}) averaged where programs vote, the student elsewhere"
    if not has_student:
        return f"the label model ({selection['label_model']}; the run chose its student, which this run does not use)"
    return f"the student ({selection['winner']})"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def render_relabel_report(results: Mapping[str, Any], run_id: str) -> str:
    """The relabel run's ``report.md``: source, data, pseudolabels per split, programs."""
    source = results["source"]
    lines = [
        f"# Relabel run {run_id}",
        "",
        f"Source run: `{source['run']}`  ",
        f"Program set: `{source['programs_digest'][:16]}`, label model: **{source['label_model']}** "
        f"(`{source['label_model_digest'][:16]}`), student: {'yes' if source['student'] else 'no'}  ",
        f"Final labels: {source.get('final', 'the label model')} (the source run's out-of-fold choice)  ",
        f"Data: {results['dataset']['name']} (`{results['dataset']['digest']}`)",
        "",
        "## Labels",
        "",
    ]
    class_names = list(results["splits"][0]["label_counts"]) if results["splits"] else []
    header = ["split", "rows", "coverage", "mean confidence", *class_names, "abstained", "label model acc.", "student acc.",
              "final acc.", "student agrees"]  # fmt: skip
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in results["splits"]:
        cells = [row["split"], row["rows"], row["coverage"], row["mean_confidence"], *row["label_counts"].values(), row["abstained"],
                 row.get("label_model_accuracy"), row.get("student_accuracy"), row.get("final_accuracy"),
                 row.get("student_label_model_agreement")]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", "## Programs", "", "| program | in label model | coverage | overlap | conflict | accuracy | errors | invalid | timed out | quarantined |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for program in results["programs"]:
        faults = program["faults"]
        cells = [f"`{program['name']}`", "yes" if program["in_label_model"] else "no", program["coverage"], program["overlap"],
                 program["conflict"], program["accuracy"].get("all"), faults["errors"], faults["invalid"], faults["timed_out"],
                 program["quarantined"]]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
