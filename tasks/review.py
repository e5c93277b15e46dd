"""Review a stored program set: run it on the generator's sample and labeled rows, report, publish."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_link_artifact, create_table_artifact

from alchemist_core.config import GeneratorConfig, SandboxConfig
from alchemist_core.refs import DatasetRef, ProgramReview, ProgramSetRef, RunContext
from tasks.artifacts import link_uri
from tasks.caching import artifact_key, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="review-programs", persist_result=False, retries=1, retry_condition_fn=retry_transient)
def review_programs(
    run: RunContext, dataset: DatasetRef, programs: ProgramSetRef, generator: GeneratorConfig, sandbox: SandboxConfig
) -> ProgramReview:
    """Run the stored programs on the generator's sample and labeled rows; write ``report.md`` and ``review.json``."""
    from alchemist_core.report.review import write_program_review

    return write_program_review(run, dataset, programs, generator, sandbox)


@task(**STAGE_HOOKS, name="publish-review-artifacts", persist_result=False)
def publish_review_artifacts(review: ProgramReview, spec_name: str) -> list[str]:
    """The programs table, the rejected ones, the cost and a link to the review."""
    keys = {part: artifact_key("review", spec_name, part) for part in ("programs", "rejected", "cost", "report")}
    create_table_artifact(
        [dict(row) for row in review.programs], key=keys["programs"],
        description="Generated programs: coverage on the sample, accuracy on labeled rows",
    )  # fmt: skip
    rejected = [r.model_dump() for r in review.rejected]
    create_table_artifact(rejected or [{"name": "none", "reason": ""}], key=keys["rejected"], description="Rejected programs")
    cost = dict(review.cost or {})
    create_table_artifact(
        [{k: cost.get(k, 0) for k in ("calls", "cached_calls", "prompt_tokens", "completion_tokens", "dollars")}],
        key=keys["cost"], description="LLM cost of the generation",
    )  # fmt: skip
    create_link_artifact(link_uri(review.report), link_text="report.md", key=keys["report"], description="Program review")
    return list(keys.values())
