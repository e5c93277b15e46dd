"""Generate, validate and store programs, with a short review report; no labeling.

For people who read programs before labeling with them: review ``programs/`` and
``report.md`` in the run folder (``runs/review-<spec>-<digest>``, never a labeling run's),
edit if needed, then label with ``label-dataset`` (the same config gets the same programs:
the LLM's replies come from the response cache; ``--generator library --library
<run>/programs`` takes edited ones).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.config import RunConfig
from alchemist_core.errors import InputError
from tasks.caching import persisted_in
from tasks.generate import generate_programs as generate_program_set
from tasks.ingest import ingest_data
from tasks.review import publish_review_artifacts, review_programs
from tasks.run import start_run


@flow(name="generate-programs", persist_result=False)
def generate_programs(config: RunConfig) -> dict[str, Any]:
    """Generate and validate programs, store them in the run folder and review them; returns where."""
    if config.generator.kind == "weak_labels":
        raise InputError("generate-programs needs a program generator (offline, library or openai); weak_labels has no programs")
    run = start_run(config=config, config_digest=config.digest, prefix="review-", kind="review")
    cached = persisted_in(run.storage_root)
    fields = config.data.fields or run.spec.input_fields
    dataset = ingest_data(data=config.data, fields=fields, class_names=run.spec.class_names, storage_root=run.storage_root, seed=run.seed)
    programs = cached(generate_program_set)(run=run, dataset=dataset, generator=config.generator, sandbox=config.sandbox)
    review = review_programs(run=run, dataset=dataset, programs=programs, generator=config.generator, sandbox=config.sandbox)
    publish_review_artifacts(review=review, spec_name=run.spec.name)
    return {"run_id": run.run_id, "run_root": run.run_root, "programs": programs.uri, "report": review.report}
