"""Generate, validate and store programs, with a short review report; no labeling.

For people who read programs before labeling with them: review ``programs/`` and
``report.md`` in the run folder, edit if needed, then label with ``label-dataset`` (the same
config reuses the stored programs from the cache; ``--generator library --library
<run>/programs`` takes edited ones).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alchemist_core.config import RunConfig
from alchemist_core.errors import InputError
from flows.label_dataset import GENERATE_CORE
from tasks.caching import core_digest, persisted_in
from tasks.generate import generate_programs as generate_program_set
from tasks.review import publish_review_artifacts, review_programs
from tasks.ingest import ingest_data
from tasks.run import start_run


@flow(name="generate-programs", persist_result=False)
def generate_programs(config: RunConfig) -> dict[str, Any]:
    """Generate and validate programs, store them in the run folder and review them; returns where."""
    if config.generator.kind == "weak_labels":
        raise InputError("generate-programs needs a program generator (offline, library or openai); weak_labels has no programs")
    settings = config.model_dump(mode="json")
    run = start_run(settings, config.digest)
    cached = persisted_in(run["storage_root"])
    spec = run["spec"]
    fields = config.data.fields or spec["input_fields"]
    class_names = [c["name"] for c in spec["classes"]]
    dataset = ingest_data(settings["data"], fields, class_names, run["storage_root"], config.seed)
    splits = {"train": config.data.train_split, "valid": config.data.valid_split, "test": config.data.test_split}

    programs = cached(generate_program_set)(
        settings["generator"], spec, dataset, fields, splits, run["run_root"], run["cache_root"], config.seed,
        settings["sandbox"], core_digest(*GENERATE_CORE),
    )
    review = review_programs(
        programs, settings["generator"], spec, dataset, fields, splits, run["run_root"], run["cache_root"], config.seed,
        settings["sandbox"],
    )
    publish_review_artifacts(review, spec["name"])
    return {"run_id": run["run_id"], "run_root": run["run_root"], "programs": programs["uri"], "report": review["report"]}
