"""Tasks of the relabel flow: read the source run, copy its programs, predict with its student, report."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.logging import get_run_logger

from alchemist_core.config import SandboxConfig
from alchemist_core.data.storage import open_storage
from alchemist_core.refs import (
    DatasetRef,
    ProgramSetRef,
    RunContext,
    RunOutputs,
    RunReport,
    SourceRun,
    StudentRef,
)
from tasks.artifacts import cost_rows, link_uri, program_rows
from tasks.caching import CACHE_POLICY, artifact_key, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="open-source-run", persist_result=False, retries=2, retry_condition_fn=retry_transient)
def open_source_run(source_run: str, sandbox: SandboxConfig | None = None) -> SourceRun:
    """The stored run's spec, fields, sandbox limits (unless ``sandbox``), program set, label model and student."""
    from alchemist_core.relabel import read_source_run

    source = read_source_run(open_storage(source_run), sandbox)
    get_run_logger().info(
        "source run %s: %d programs (%s), label model %s, %s",
        source.run_id, len(source.programs.names), (source.programs.digest or "")[:12],
        source.label_model.name, "with a student" if source.student else "no student",
    )  # fmt: skip
    return source


@task(**STAGE_HOOKS, name="copy-programs", persist_result=False, retries=2, retry_condition_fn=retry_transient)
def copy_programs(programs: ProgramSetRef, run: RunContext) -> ProgramSetRef:
    """Store the source run's program set in the new run (``programs/``), so the run is self-contained."""
    from alchemist_core.programs.program_set import load_program_set, save_program_set

    program_set = load_program_set(open_storage(programs.uri))
    uri = save_program_set(program_set, run.run, "programs")
    return ProgramSetRef(uri=uri, digest=program_set.digest, names=tuple(program_set.names))


@task(**STAGE_HOOKS, name="predict-student", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def predict_student(run: RunContext, student: StudentRef, dataset: DatasetRef) -> StudentRef:
    """The stored student's predictions on every split: ``student/predictions/<split>.parquet``."""
    from alchemist_core.relabel import student_predictions

    predictions = {}
    for split, shards in dataset.shards().items():
        table = student_predictions(open_storage(student.uri), dataset.data, shards, fields=list(student.fields), cache=run.cache)
        predictions[split] = run.run.write_table(table, "student", "predictions", f"{split}.parquet")
    return student.model_copy(update={"predictions": predictions})


@task(**STAGE_HOOKS, name="write-relabel-report", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def write_relabel_report(run: RunContext, source: SourceRun, dataset: DatasetRef, outputs: RunOutputs) -> RunReport:
    """``metrics.json``, ``manifest.json`` and ``report.md`` of the relabel run (see :func:`alchemist_core.relabel.write_relabel_report`)."""
    from alchemist_core.relabel import write_relabel_report as write

    report = write(run, source, dataset, outputs)
    for key, value in sorted(report.summary.items()):
        get_run_logger().info("%s = %s", key, value)
    return report


@task(**STAGE_HOOKS, name="publish-relabel-artifacts", persist_result=False)
def publish_relabel_artifacts(report: RunReport, spec_name: str) -> list[str]:
    """Table and markdown artifacts of a relabel run, and a link to its report."""
    results = report.sections
    keys = {part: artifact_key("relabel", spec_name, part) for part in ("programs", "pseudolabels", "summary", "cost", "report")}
    unused = {p["name"]: "not in the label model" for p in results["programs"] if not p["in_label_model"]}
    create_table_artifact(program_rows(results["programs"], unused), key=keys["programs"], description="Programs on the new data")
    rows = [{k: v for k, v in row.items() if k != "label_counts"} | row["label_counts"] for row in results["splits"]]
    create_table_artifact(rows, key=keys["pseudolabels"], description="Pseudolabels per split")
    source = results["source"]
    create_markdown_artifact(
        f"# Relabel\n\nSource run `{source['run']}`; label model **{source['label_model']}**; "
        f"program set `{source['programs_digest'][:16]}`; student: {'yes' if source['student'] else 'no'}.\n\n"
        f"Data `{results['dataset']['name']}` ({sum(results['dataset']['rows'].values())} rows).\n",
        key=keys["summary"], description="Relabel summary",
    )  # fmt: skip
    create_table_artifact(cost_rows({}), key=keys["cost"], description="Cost ledger (a relabel run calls no LLM)")
    create_link_artifact(link_uri(report.report), link_text="report.md", key=keys["report"], description="Relabel report")
    return list(keys.values())
