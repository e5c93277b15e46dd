"""The decisions of the pipeline's stages, kept out of the Prefect tasks that call them.

Tasks read inputs, call one function here (or in the modules it uses) and write what it
returns; what to fit, on which rows, and what to fall back to lives here, where tests reach
it without Prefect.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alchemist_core.data.storage import Storage


def store_generated_programs(result: Any, run: Storage, generator: str, *parts: str) -> str:
    """Write a generation's programs under ``parts`` of the run folder; returns the folder's URI.

    The rejected candidates, with their reasons and sources, go to ``rejected.json`` beside
    the programs. With no accepted program, nothing else is written and
    :class:`~alchemist_core.errors.NoProgramsError` names every rejected candidate.
    """
    from alchemist_core.generators.base import require_programs
    from alchemist_core.programs.program_set import save_program_set

    rejected = [{"name": r.name, "reason": r.reason, "source": r.source} for r in result.rejected]
    where = run.write_json({"rejected": rejected, "n_duplicates": result.n_duplicates}, *parts, "rejected.json")
    require_programs(result, generator, where=where)
    return save_program_set(result.program_set, run, *parts)


@dataclass(frozen=True)
class FittedLabelModel:
    """A label model fitted for a run, with what it was chosen by and fitted on."""

    model: Any
    name: str
    metric: str | None
    valid_scores: Mapping[str, float | None]
    fit_rows: int
    train_rows: int
    labeled_rows: int


def fit_run_label_model(
    train_votes: Sequence[str],
    valid_votes: Sequence[str],
    programs: Sequence[str],
    data: Storage,
    valid_split: str,
    *,
    n_classes: int,
    settings: Any,
    selection: Any = None,
    seed: int = 0,
) -> FittedLabelModel:
    """Fit the run's label model on (a seeded sample of) the training votes.

    With a ``selection`` (:class:`~alchemist_core.selection.Selection`, the run's out-of-fold
    choice), its label model is refitted with every labeled valid row (class balance, and for
    ``weighted+valid`` the program accuracies). Without one (too few labeled rows) the
    configured model (``settings``, a :class:`~alchemist_core.config.LabelModelConfig`) is
    fitted on the votes alone, ``auto`` meaning majority vote. The training votes are read one
    shard at a time into a sample of at most ``settings.max_fit_rows`` rows (the draw
    :class:`~alchemist_core.labelmodel.aggregate.SnorkelLabelModel` makes itself), so memory does not grow
    with the dataset.
    """
    from alchemist_core.data.ingest import read_gold
    from alchemist_core.labelmodel.aggregate import make_label_model
    from alchemist_core.programs.vote_shards import (
        read_label_matrix,
        sample_label_matrix,
    )
    from alchemist_core.selection import fit_label_model as fit_chosen

    programs = list(programs)
    L_train, n_train = sample_label_matrix(list(train_votes), programs, settings.max_fit_rows, seed)
    params = {"snorkel": {"n_epochs": settings.n_epochs, "max_fit_rows": settings.max_fit_rows}}
    if selection is None:
        name = "majority" if settings.name == "auto" else settings.name
        model = make_label_model(name, n_classes, seed=seed, **params.get(name, {})).fit(L_train)
        return FittedLabelModel(model, name, None, {}, len(L_train), n_train, 0)
    name = selection.label_model
    valid_ids, L_valid, _ = read_label_matrix(list(valid_votes), programs)
    gold_ids, y_valid = read_gold(data, valid_split)
    lookup = dict(zip(gold_ids.tolist(), y_valid.tolist()))
    y = np.asarray([lookup.get(r, -1) for r in valid_ids.tolist()], dtype=np.int64)
    model = fit_chosen(name, L_train, L_valid[y >= 0], y[y >= 0], n_classes, seed=seed, params=params)
    metric = selection.chosen_by
    scores = {s.name: s.score(metric) for s in selection.label_models}
    return FittedLabelModel(model, name, metric, scores, len(L_train), n_train, int((y >= 0).sum()))


def demo_source(root: Storage, seed: int) -> str:
    """Write the built-in demo CSV and return its path: beside the artifacts for a local root.

    Its bytes depend on the seed only, so it is ingested like any file and content-addressed.
    """
    from alchemist_core.data.demo import make_demo_dataset

    if root.is_local:
        path = root.local_path("demo", "demo.csv")
    else:
        path = os.path.join(tempfile.gettempdir(), "alchemist-demo", f"seed-{seed}", "demo.csv")
    return str(make_demo_dataset(path, seed=seed))


DEMO_READ_OPTIONS = {"format": "csv", "split_field": "split", "id_field": "id"}


@dataclass(frozen=True)
class IngestedData:
    """A dataset ingested for a run: its folder, its manifest, and what the carve did (if it ran)."""

    uri: str
    manifest: Any
    carved: str | None


def ingest_run_data(
    root: Storage, data: Any, fields: Sequence[str], class_names: Sequence[str], *, seed: int = 0, needs_train: bool = True
) -> IngestedData:
    """Ingest ``data.source`` (a :class:`~alchemist_core.config.DataConfig`) under ``<root>/datasets/<digest>``.

    ``demo`` makes the built-in demo dataset first. A dataset already there is reused. It is
    carved into train / valid / test when ``data.split_fractions`` says so, or, for a run that
    ``needs_train``, when it has a single split and no training split
    (:func:`alchemist_core.data.carve.carve_fractions`).
    """
    from alchemist_core.data.carve import (
        carve_dataset,
        carve_digest,
        carve_fractions,
        carve_message,
    )
    from alchemist_core.data.ingest import dataset_digest, ingest_dataset

    source = data.source
    options = {k: getattr(data, k) for k in ("format", "label_field", "id_field", "split_field")}
    if source == "demo":
        source = demo_source(root, seed)
        options.update(DEMO_READ_OPTIONS)
    read_options = dict(fields=list(fields), class_names=list(class_names), shard_rows=data.shard_rows, **options)
    digest = dataset_digest(source, **read_options)
    manifest = ingest_dataset(source, root.child("datasets", digest[:16]), **read_options)
    carved = None
    settings = data.model_dump(mode="json")
    fractions = carve_fractions(manifest, settings, needs_train=needs_train)
    if fractions is not None:
        carved_digest = carve_digest(manifest.digest, fractions, data.split_seed)
        manifest = carve_dataset(
            root.child("datasets", manifest.folder), root.child("datasets", carved_digest[:16]), fractions=fractions,
            seed=data.split_seed,
        )
        carved = f"carved {list(fractions)} with seed {data.split_seed}: {carve_message(manifest)}"
    return IngestedData(root.uri("datasets", manifest.folder), manifest, carved)


def _program_digests(votes: Any, names: Sequence[str]) -> list[str] | None:
    return [votes.program_digests[n] for n in names] if votes.program_digests else None


def choose_final_labels(
    rows: Any,
    votes: Any,
    fold_votes: Sequence[Any] | None,
    spec: Any,
    config: Any,
    *,
    fields: Sequence[str],
    cache: Storage,
    seed: int = 0,
    log: Any = None,
) -> Any:
    """Score every label model, student and the supervised floor out of fold; the run's :class:`~alchemist_core.selection.Selection`.

    ``votes`` (a :class:`~alchemist_core.refs.VoteSet`) are the final program set's votes, read
    on the selection rows when the programs did not learn from labeled rows; ``fold_votes``
    are, per fold, the votes of the programs generated without that fold (each a ``VoteSet``
    with one ``train`` and one ``valid`` shard). ``config`` is the run's
    :class:`~alchemist_core.config.RunConfig`.
    """
    from alchemist_core.selection import (
        choose_label_model_only,
        label_model_candidates,
        resolve_metric,
        select,
    )
    from alchemist_core.selection_rows import fold_votes as read_fold_votes
    from alchemist_core.selection_rows import sample_votes
    from alchemist_core.students.training import (
        _Inputs,
        _student_config,
        student_candidates,
    )

    train, valid = config.data.train_split, config.data.valid_split
    _, y, folds = rows.labels()
    if fold_votes:
        # Fold programs vote on the selection rows, stored as one "train" and one "valid" shard.
        per_fold = [
            read_fold_votes({"train": f.shards["train"][0], "valid": f.shards["valid"][0]}, list(f.active), _program_digests(f, f.active))
            for f in fold_votes
        ]
    else:
        names = list(votes.active)
        per_fold = [sample_votes(rows, votes.split_shards(train), votes.split_shards(valid), names, _program_digests(votes, names))]
    metric = resolve_metric(spec.metric, y, spec.n_classes, spec.class_names)
    if log is not None:
        log("choosing by %s", metric.reason)
    label_model = config.label_model
    lm_candidates = label_model_candidates(label_model.name, label_model.use_valid_labels)
    params = {"snorkel": {"n_epochs": label_model.n_epochs, "max_fit_rows": label_model.max_fit_rows}}
    if not config.student.enabled:
        return choose_label_model_only(
            per_fold, folds, y, spec.n_classes, metric=metric, seed=seed, candidates=lm_candidates, params=params
        )
    student = config.student.model_dump(mode="json")
    inputs = _Inputs(rows.texts(list(fields)), "train", cache, student["encoder"], student.get("device"))
    return select(
        per_fold, folds, y, spec.n_classes, inputs, metric=metric, seed=seed,
        student_candidates=student_candidates(student), label_model_candidates=lm_candidates,
        label_model_params=params, config=_student_config(student), n_jobs=config.selection.n_jobs,
    )  # fmt: skip


def write_final_labels(run: Storage, selection: Any, pseudolabels: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> Any:
    """Write ``final/<split>.parquet`` from the winner of ``selection``; a :class:`~alchemist_core.refs.FinalLabels`.

    ``pseudolabels`` are the label model's tables per split, ``predictions`` the student's
    table per split (empty without a student: the label model's labels are then final).
    Without a choice (``selection`` is ``None``) the student's labels are final.
    """
    import pyarrow as pa

    from alchemist_core.labelmodel.pseudolabels import final_label_table
    from alchemist_core.refs import FinalLabels
    from alchemist_core.selection import BLEND_FINAL, LABEL_MODEL_FINAL

    use = "student"
    if not predictions:
        use = "label model"  # no student (disabled, or a relabel run told not to use it)
    elif selection is not None:
        use = {LABEL_MODEL_FINAL: "label model", BLEND_FINAL: "blend"}.get(selection.winner, "student")
    out = {}
    for split, uris in pseudolabels.items():
        pseudo = pa.concat_tables([Storage(uri).read_table() for uri in uris])
        student_table = Storage(predictions[split]).read_table() if split in predictions else None
        out[split] = run.write_table(final_label_table(pseudo, student_table, use=use), "final", f"{split}.parquet")
    return FinalLabels(shards=out, source=use)
