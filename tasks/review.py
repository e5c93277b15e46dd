"""Review a stored program set: run it on the generator's sample and labeled rows, report, publish."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_table_artifact

from alchemist_core.storage import open_storage
from tasks.artifacts import link_uri
from tasks.caching import artifact_key, retry_transient


@task(name="review-programs", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def review_programs(
    programs: dict[str, Any],
    generator: dict[str, Any],
    spec: dict[str, Any],
    dataset: dict[str, Any],
    fields: list[str],
    splits: dict[str, str],
    run_root: str,
    cache_root: str,
    seed: int,
    sandbox: dict[str, Any],
) -> dict[str, Any]:
    """Run the stored programs on the generator's sample and labeled rows; write ``report.md`` and ``review.json``."""
    from alchemist_core.generate import generation_context
    from alchemist_core.ingest import DatasetManifest
    from alchemist_core.llm import Ledger
    from alchemist_core.programs import load_program_set
    from alchemist_core.review import render_program_review, review_program_set
    from alchemist_core.sandbox import SandboxLimits
    from alchemist_core.spec import TaskSpec

    task_spec = TaskSpec.model_validate(spec)
    run = open_storage(run_root)
    program_set = load_program_set(open_storage(programs["uri"]))
    context = generation_context(
        task_spec, DatasetManifest.from_json(dataset["manifest"]), open_storage(dataset["root"]), fields=fields,
        n_programs=generator["n_programs"], n_sample=generator["sample_rows"], seed=seed, train_split=splits["train"],
        valid_split=splits["valid"],
    )  # fmt: skip
    limits = SandboxLimits(program_seconds=sandbox["program_seconds"], memory_mb=sandbox["memory_mb"])
    rows = review_program_set(program_set, context, fields=fields, limits=limits, cache=open_storage(cache_root))
    ledger = Ledger(run)
    cost = ledger.summary() if ledger.entries() else None
    text = render_program_review(
        rows, title=f"Programs for {task_spec.name} ({run_root.rstrip('/').rsplit('/', 1)[-1]})", program_set_uri=programs["uri"],
        program_set_digest=programs["digest"], rejected=programs["rejected"], n_duplicates=programs["n_duplicates"], cost=cost,
    )  # fmt: skip
    run.write_json({"programs": rows, "rejected": programs["rejected"], "cost": cost}, "review.json")
    report = run.write_text(text, "report.md")
    return {"programs": rows, "rejected": programs["rejected"], "cost": cost, "report": report}


@task(name="publish-review-artifacts", persist_result=False)
def publish_review_artifacts(review: dict[str, Any], spec_name: str) -> list[str]:
    """The programs table, the rejected ones, the cost and a link to the review."""
    keys = {part: artifact_key("review", spec_name, part) for part in ("programs", "rejected", "cost", "report")}
    create_table_artifact(review["programs"], key=keys["programs"], description="Generated programs: coverage on the sample, accuracy on labeled rows")
    create_table_artifact(review["rejected"] or [{"name": "none", "reason": ""}], key=keys["rejected"], description="Rejected programs")
    cost = review["cost"] or {}
    create_table_artifact(
        [{k: cost.get(k, 0) for k in ("calls", "cached_calls", "prompt_tokens", "completion_tokens", "dollars")}],
        key=keys["cost"], description="LLM cost of the generation",
    )  # fmt: skip
    create_link_artifact(link_uri(review["report"]), link_text="report.md", key=keys["report"], description="Program review")
    return list(keys.values())
