"""Distil a student from the pseudolabels: features for every split, then the student."""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import StudentConfig
from alchemist_core.refs import DatasetRef, PseudolabelSet, RunContext, StudentRef
from tasks.caching import CACHE_POLICY, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="distill-student", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def distill_student(
    run: RunContext, dataset: DatasetRef, pseudolabels: PseudolabelSet, settings: StudentConfig, choice: str | None = None
) -> StudentRef:
    """Train the student the run chose out of fold (``choice``, ``model/features/rows``) and predict every split.

    ``pseudolabels`` count by what they were computed from (the label model and the votes).
    Without a ``choice`` (too few labeled rows to choose on) the configured default student
    is trained.
    """
    from alchemist_core.students.training import StudentChoice, distill_and_predict

    splits = dataset.splits
    result = distill_and_predict(
        pseudolabels={split: list(uris) for split, uris in pseudolabels.shards.items()},
        data=dataset.data,
        shards=dataset.shards(),
        fields=list(dataset.fields),
        settings=settings.model_dump(mode="json"),
        splits={"train": splits.train, "valid": splits.valid, "test": splits.test},
        cache=run.cache,
        run=run.run,
        seed=run.seed,
        choice=StudentChoice.parse(choice) if choice else None,
    )
    chosen = result["chosen"]
    get_run_logger().info(
        "student %s/%s/%s trained on %d rows (%s)", chosen["model"], chosen["features"], chosen["rows"],
        result["n_train_rows"], result["device"],
    )  # fmt: skip
    return StudentRef(
        uri=result["uri"], predictions=result["predictions"], fields=dataset.fields, chosen=chosen,
        n_train_rows=result["n_train_rows"], device=result["device"],
    )  # fmt: skip
