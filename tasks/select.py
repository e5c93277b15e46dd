"""The out-of-fold choices of a run, and its final labels.

``selection-rows`` writes the rows the choices are made on; ``select-final-labels`` scores every
candidate out of fold and returns the :class:`~alchemist_core.selection.Selection`;
``final-labels`` writes what the winner labels each row.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.storage import Storage, open_storage
from tasks.caching import CACHE_POLICY, retry_transient


@task(name="selection-rows", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def selection_rows(dataset: dict[str, Any], splits: dict[str, str], settings: dict[str, Any], run_root: str, seed: int, core: str):
    """Write ``selection/``: a sample of training rows, the labeled valid rows and their folds.

    Returns a :class:`~alchemist_core.selection_rows.SelectionRows`, or ``None`` when the valid
    split has too few labeled rows to choose on (the run then uses its configured defaults).
    """
    from alchemist_core.ingest import DatasetManifest
    from alchemist_core.selection import MIN_LABELED_ROWS
    from alchemist_core.selection_rows import write_selection_rows

    rows = write_selection_rows(
        open_storage(dataset["root"]), DatasetManifest.from_json(dataset["manifest"]), open_storage(run_root).child("selection"),
        train_split=splits["train"], valid_split=splits["valid"], max_train_rows=settings["max_train_rows"],
        n_folds=settings["n_folds"], seed=seed,
    )
    logger = get_run_logger()
    if rows is None:
        logger.warning(
            "fewer than %d labeled rows in the %r split: no choice is made on labels; the configured defaults are used",
            MIN_LABELED_ROWS, splits["valid"],
        )
    else:
        logger.info(
            "choices out of %d folds of %d labeled valid rows, candidates fitted on %d of %d training rows",
            rows.n_folds, rows.n_labeled, rows.n_train, rows.n_train_total,
        )
    return rows


@task(name="collect-fold-votes", persist_result=False)
def collect_fold_votes(results: list[list[list[dict[str, Any]]]], folds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fold: its vote files on the selection rows, and its programs that did not time out or crash."""
    from alchemist_core.runs import combine_vote_results

    out = []
    for k, (fold_results, programs) in enumerate(zip(results, folds)):
        combined = combine_vote_results(fold_results, programs["names"])
        for name, reason in combined["quarantined"].items():
            get_run_logger().warning("fold %d: quarantined %s: %s", k, name, reason)
        votes = {split: uris[0] for split, uris in combined["votes"].items()}
        out.append({"votes": votes, "active": combined["active"], "programs": programs, "digest": combined["digest"]})
    return out


def _digests(programs: dict[str, Any] | None) -> dict[str, str] | None:
    if not programs or not programs.get("uri"):
        return None
    manifest = Storage(programs["uri"]).read_json("manifest.json")
    return {entry["name"]: entry["digest"] for entry in manifest["programs"]}


@task(name="select-final-labels", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def select_final_labels(
    rows: Any,
    votes: dict[str, Any],
    programs: dict[str, Any],
    fold_votes: list[dict[str, Any]] | None,
    settings: dict[str, Any],
    spec: dict[str, Any],
    fields: list[str],
    run_root: str,
    cache_root: str,
    seed: int,
    core: str,
):
    """Score every label model, student and the supervised floor out of fold; write ``selection.json``.

    ``votes`` are the final program set's votes (read on the selection rows when the programs
    did not learn from labeled rows); ``fold_votes`` are, per fold, the votes of the programs
    generated without that fold (``{"votes": {"train", "valid"}, "active", "programs"}``).
    """
    from alchemist_core.selection import choose_label_model_only, label_model_candidates, resolve_metric, select
    from alchemist_core.selection_rows import fold_votes as read_fold_votes
    from alchemist_core.selection_rows import sample_votes
    from alchemist_core.spec import TaskSpec
    from alchemist_core.training import _Inputs, _student_config, student_candidates

    logger = get_run_logger()
    task_spec = TaskSpec.model_validate(spec)
    train, valid = settings["data"]["train_split"], settings["data"]["valid_split"]
    _, y, folds = rows.labels()
    if fold_votes:
        per_fold = []
        for fold in fold_votes:
            digests = _digests(fold["programs"])
            names = fold["active"]
            per_fold.append(read_fold_votes(fold["votes"], names, [digests[n] for n in names] if digests else None))
    else:
        digests = _digests(programs)
        names = votes["active"]
        per_fold = [sample_votes(rows, votes["votes"][train], votes["votes"][valid], names, [digests[n] for n in names] if digests else None)]
    metric = resolve_metric(task_spec.metric, y, task_spec.n_classes, task_spec.class_names)
    logger.info("choosing by %s", metric.reason)
    label_model = settings["label_model"]
    lm_candidates = label_model_candidates(label_model["name"], label_model.get("use_valid_labels", True))
    params = {"snorkel": {"n_epochs": label_model["n_epochs"], "max_fit_rows": label_model["max_fit_rows"]}}
    student = settings["student"]
    if student["enabled"]:
        inputs = _Inputs(rows.texts(fields), "train", open_storage(cache_root), student["encoder"], student.get("device"))
        selection = select(
            per_fold, folds, y, task_spec.n_classes, inputs, metric=metric, seed=seed,
            student_candidates=student_candidates(student), label_model_candidates=lm_candidates,
            label_model_params=params, config=_student_config(student), n_jobs=settings["selection"]["n_jobs"],
        )
    else:
        selection = choose_label_model_only(
            per_fold, folds, y, task_spec.n_classes, metric=metric, seed=seed, candidates=lm_candidates, params=params
        )
    open_storage(run_root).write_json(selection.to_json(), "selection.json")
    winner = selection.winner_score
    logger.info(
        "final labels from %s: out-of-fold %s %.4f (accuracy %.4f, macro-F1 %.4f); label model %s",
        selection.winner, selection.chosen_by, winner.score(selection.chosen_by), winner.accuracy, winner.macro_f1,
        selection.label_model,
    )
    for warning in selection.warnings:
        logger.warning("%s", warning)
    return selection


@task(name="select-label-model", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def select_label_model(
    votes: dict[str, Any],
    data_root: str,
    settings: dict[str, Any],
    spec: dict[str, Any],
    splits: dict[str, str],
    run_root: str,
    seed: int,
    core: str,
    programs: dict[str, Any] | None = None,
    features: dict[str, Any] | None = None,
    cache_root: str | None = None,
):
    """Choose the label model out of fold on the valid split's votes (the image pipeline).

    When the run's programs were fitted to the labeled valid rows (``programs["valid_rows_seen"]``),
    the generator is run again once per fold without that fold's rows, and each fold is scored
    with its own programs' votes; otherwise the run's votes serve every fold. Returns a
    :class:`~alchemist_core.selection.Selection` whose winner is the label model (the image
    pipeline's student is trained as configured), or ``None`` with too few labeled rows.
    """
    from alchemist_core.selection import choose_label_model_only, label_model_candidates, resolve_metric
    from alchemist_core.selection_rows import votes_on_labeled_rows
    from alchemist_core.spec import TaskSpec

    task_spec = TaskSpec.model_validate(spec)
    label_model, selection = settings["label_model"], settings.get("selection") or {}
    max_train_rows, n_folds = selection.get("max_train_rows", 5_000), selection.get("n_folds", 5)
    if programs and programs.get("valid_rows_seen") and features is not None and cache_root is not None:
        found = _concept_fold_votes(task_spec, settings, features, data_root, splits, run_root, cache_root, seed, max_train_rows, n_folds)
    else:
        found = votes_on_labeled_rows(
            open_storage(data_root), votes["votes"][splits["train"]], votes["votes"].get(splits["valid"], []), votes["active"],
            valid_split=splits["valid"], max_train_rows=max_train_rows, n_folds=n_folds, seed=seed,
        )
        found = None if found is None else ([found[0]], found[1], found[2])
    if found is None:
        get_run_logger().warning("too few labeled rows in %r to choose a label model on; the configured one is used", splits["valid"])
        return None
    fold_votes, y, folds = found
    metric = resolve_metric(task_spec.metric, y, task_spec.n_classes, task_spec.class_names)
    params = {"snorkel": {"n_epochs": label_model["n_epochs"], "max_fit_rows": label_model["max_fit_rows"]}}
    chosen = choose_label_model_only(
        fold_votes, folds, y, task_spec.n_classes, metric=metric, seed=seed,
        candidates=label_model_candidates(label_model["name"], label_model.get("use_valid_labels", True)), params=params,
    )
    open_storage(run_root).write_json(chosen.to_json(), "selection.json")
    get_run_logger().info("label model %s chosen out of fold by %s", chosen.label_model, chosen.chosen_by)
    return chosen


@task(name="final-labels", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def final_labels(
    selection: Any, labels: dict[str, list[str]], student: dict[str, Any] | None, run_root: str, core: str
) -> dict[str, str]:
    """Write ``final/<split>.parquet``: per row, the label of the run's out-of-fold winner.

    ``selection`` is the run's :class:`~alchemist_core.selection.Selection` (or, for a relabel
    run, its source run's as JSON). Without a choice (``None``) the student's labels are final
    when there is a student; without a student, the label model's.
    """
    from collections.abc import Mapping

    import pyarrow as pa

    from alchemist_core.pseudolabels import final_label_table
    from alchemist_core.selection import BLEND_FINAL, LABEL_MODEL_FINAL, Selection

    if isinstance(selection, Mapping):
        selection = Selection.from_json(selection)
    run = open_storage(run_root)
    predictions = (student or {}).get("predictions", {})
    use = "student"
    if not predictions:
        use = "label model"  # no student (disabled, or a relabel run told not to use it)
    elif selection is not None:
        use = {LABEL_MODEL_FINAL: "label model", BLEND_FINAL: "blend"}.get(selection.winner, "student")
    out = {}
    for split, uris in labels.items():
        pseudo = pa.concat_tables([Storage(uri).read_table() for uri in uris])
        student_table = Storage(predictions[split]).read_table() if split in predictions else None
        table = final_label_table(pseudo, student_table, use=use)
        out[split] = run.write_table(table, "final", f"{split}.parquet")
    get_run_logger().info("final labels from the %s for %s", use, sorted(out))
    return out


def _concept_fold_votes(
    task_spec: Any, settings: dict[str, Any], features: dict[str, Any], data_root: str, splits: dict[str, str],
    run_root: str, cache_root: str, seed: int, max_train_rows: int, n_folds: int,
):
    from alchemist_core.concepts import load_concepts
    from alchemist_core.image_pipeline import build_concept_generator, concept_fold_votes
    from alchemist_core.sandbox import SandboxLimits

    run = open_storage(run_root)
    sandbox, generator = settings["sandbox"], settings["generator"]
    limits = SandboxLimits(program_seconds=sandbox["program_seconds"], memory_mb=sandbox["memory_mb"])
    program_generator = build_concept_generator(
        generator, settings["llm"], load_concepts(run, "concepts.json"), cache=open_storage(cache_root), ledger_storage=run, limits=limits
    )
    return concept_fold_votes(
        program_generator, task_spec, open_storage(features["root"]), features["shards"], open_storage(data_root),
        features["score_names"], n_programs=generator["n_programs"], n_sample=generator["sample_rows"], seed=seed,
        train_split=splits["train"], valid_split=splits["valid"], max_train_rows=max_train_rows, n_folds=n_folds, limits=limits,
    )
