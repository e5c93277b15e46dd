"""The out-of-fold choices of a run, and its final labels.

``selection-rows`` writes the rows the choices are made on; ``select-final-labels`` scores every
candidate out of fold and returns the :class:`~alchemist_core.selection.Selection`;
``final-labels`` writes what the winner labels each row.
"""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import RunConfig, SelectionConfig
from alchemist_core.images.pipeline import ImageRunConfig
from alchemist_core.refs import (
    DatasetRef,
    FeatureSetRef,
    FinalLabels,
    ImageDatasetRef,
    ProgramSetRef,
    PseudolabelSet,
    RunContext,
    ShardVotes,
    StudentRef,
    VoteSet,
)
from alchemist_core.selection import Selection
from alchemist_core.selection_rows import SelectionRows
from tasks.caching import CACHE_POLICY, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="selection-rows", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def selection_rows(run: RunContext, dataset: DatasetRef, settings: SelectionConfig) -> SelectionRows | None:
    """Write ``selection/``: a sample of training rows, the labeled valid rows and their folds.

    ``None`` when the valid split has too few labeled rows to choose on (the run then uses
    its configured defaults).
    """
    from alchemist_core.selection import MIN_LABELED_ROWS
    from alchemist_core.selection_rows import write_selection_rows

    rows = write_selection_rows(
        dataset.data, dataset.manifest, run.run.child("selection"), train_split=dataset.splits.train,
        valid_split=dataset.splits.valid, max_train_rows=settings.max_train_rows, n_folds=settings.n_folds, seed=run.seed,
    )  # fmt: skip
    logger = get_run_logger()
    if rows is None:
        logger.warning(
            "fewer than %d labeled rows in the %r split: no choice is made on labels; the configured defaults are used",
            MIN_LABELED_ROWS, dataset.splits.valid,
        )  # fmt: skip
    else:
        logger.info(
            "choices out of %d folds of %d labeled valid rows, candidates fitted on %d of %d training rows",
            rows.n_folds, rows.n_labeled, rows.n_train, rows.n_train_total,
        )  # fmt: skip
    return rows


@task(**STAGE_HOOKS, name="collect-fold-votes", persist_result=False)
def collect_fold_votes(results: list[list[list[ShardVotes]]], folds: list[ProgramSetRef]) -> list[VoteSet]:
    """Per fold: the votes of its programs on the selection rows, without those that timed out or crashed."""
    from alchemist_core.runs import combine_vote_results

    out = []
    for k, (fold_results, programs) in enumerate(zip(results, folds)):
        votes = combine_vote_results(fold_results, programs)
        for name, reason in votes.quarantined.items():
            get_run_logger().warning("fold %d: quarantined %s: %s", k, name, reason)
        out.append(votes)
    return out


@task(**STAGE_HOOKS, name="select-final-labels", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def select_final_labels(
    run: RunContext, dataset: DatasetRef, rows: SelectionRows, votes: VoteSet, fold_votes: list[VoteSet] | None, config: RunConfig
) -> Selection:
    """Score every label model, student and the supervised floor out of fold; write ``selection.json``.

    See :func:`alchemist_core.stages.choose_final_labels`.
    """
    from alchemist_core.stages import choose_final_labels

    logger = get_run_logger()
    selection = choose_final_labels(
        rows, votes, fold_votes, run.spec, config, fields=dataset.fields, cache=run.cache, seed=run.seed, log=logger.info
    )
    run.run.write_json(selection.to_json(), "selection.json")
    winner = selection.winner_score
    logger.info(
        "final labels from %s: out-of-fold %s %.4f (accuracy %.4f, macro-F1 %.4f); label model %s",
        selection.winner, selection.chosen_by, winner.score(selection.chosen_by), winner.accuracy, winner.macro_f1,
        selection.label_model,
    )  # fmt: skip
    for warning in selection.warnings:
        logger.warning("%s", warning)
    return selection


@task(**STAGE_HOOKS, name="select-label-model", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def select_label_model(
    run: RunContext, dataset: ImageDatasetRef, votes: VoteSet, programs: ProgramSetRef, features: FeatureSetRef, config: ImageRunConfig
) -> Selection | None:
    """Choose the image run's label model out of fold; ``None`` with too few labeled rows.

    See :func:`alchemist_core.images.stages.choose_image_label_model`.
    """
    from alchemist_core.images.stages import choose_image_label_model

    chosen = choose_image_label_model(
        votes, programs, features, dataset.data, run.spec, config, run=run.run, cache=run.cache, seed=run.seed
    )
    if chosen is None:
        get_run_logger().warning("too few labeled rows in %r to choose a label model on; the configured one is used", dataset.splits.valid)
        return None
    run.run.write_json(chosen.to_json(), "selection.json")
    get_run_logger().info("label model %s chosen out of fold by %s", chosen.label_model, chosen.chosen_by)
    return chosen


@task(**STAGE_HOOKS, name="final-labels", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def final_labels(run: RunContext, selection: Selection | None, pseudolabels: PseudolabelSet, student: StudentRef | None) -> FinalLabels:
    """Write ``final/<split>.parquet``: per row, the label of the run's out-of-fold winner.

    ``selection`` is the run's :class:`~alchemist_core.selection.Selection` (for a relabel
    run, its source run's). Without a choice (``None``) the student's labels are final when
    there is a student; without a student, the label model's.
    """
    from alchemist_core.stages import write_final_labels

    final = write_final_labels(run.run, selection, pseudolabels.shards, student.predictions if student else {})
    get_run_logger().info("final labels from the %s for %s", final.source, sorted(final.shards))
    return final
