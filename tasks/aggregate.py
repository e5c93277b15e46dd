"""Fit the label model on training votes and turn every split's votes into pseudolabels."""

from __future__ import annotations

import pickle

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.config import LabelModelConfig
from alchemist_core.data.pickles import load_pickle
from alchemist_core.data.storage import Storage
from alchemist_core.digest import sha256_bytes
from alchemist_core.refs import (
    DatasetRef,
    ImageDatasetRef,
    LabelModelRef,
    PseudolabelSet,
    RunContext,
    VoteSet,
)
from alchemist_core.selection import Selection
from tasks.caching import CACHE_POLICY, retry_transient
from tasks.progress import STAGE_HOOKS


@task(**STAGE_HOOKS, name="fit-label-model", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def fit_label_model(
    run: RunContext, dataset: DatasetRef | ImageDatasetRef, votes: VoteSet, settings: LabelModelConfig, selection: Selection | None = None
) -> LabelModelRef:
    """Fit the label model the run chose out of fold, on (a seeded sample of) the training votes.

    ``selection`` (a :class:`~alchemist_core.selection.Selection`) names the model; it is
    refitted here with every labeled valid row (class balance, and for ``weighted+valid`` the
    program accuracies). Without a selection (too few labeled rows) the configured model is
    fitted on the votes alone (``auto``: majority vote). See
    :func:`alchemist_core.stages.fit_run_label_model`.
    """
    from alchemist_core.stages import fit_run_label_model

    logger = get_run_logger()
    fitted = fit_run_label_model(
        votes.split_shards(dataset.splits.train), votes.split_shards(dataset.splits.valid), list(votes.active), dataset.data,
        dataset.splits.valid, n_classes=run.n_classes, settings=settings, selection=selection, seed=run.seed,
    )
    if fitted.fit_rows < fitted.train_rows:
        logger.info("label model fitted on a sample of %d of %d training rows", fitted.fit_rows, fitted.train_rows)
    if selection is not None:
        logger.info(
            "label model %s (chosen out of fold by %s) refitted with %d labeled rows", fitted.name, fitted.metric, fitted.labeled_rows
        )
    else:
        logger.info("label model %s fitted on the votes alone (no labeled rows to choose on)", fitted.name)
    payload = pickle.dumps(fitted.model)
    uri = run.run.write_bytes(payload, "label_model", "model.pkl")
    model = LabelModelRef(
        uri=uri, digest=sha256_bytes(payload), name=fitted.name, programs=votes.active, metric=fitted.metric,
        valid_scores=fitted.valid_scores,
    )  # fmt: skip
    run.run.write_json(
        {**model.model_dump(mode="json", exclude={"uri"}), "votes_digest": votes.digest, "fit_rows": fitted.fit_rows, "train_rows": fitted.train_rows},
        "label_model", "summary.json",
    )  # fmt: skip
    return model


@task(**STAGE_HOOKS, name="predict-labels", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def predict_labels(run: RunContext, model: LabelModelRef, votes: VoteSet) -> PseudolabelSet:
    """Pseudolabels for every split, shard by shard, so memory stays bounded.

    ``model`` may be another run's (a relabel run applies a stored label model to new votes).
    """
    from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
    from alchemist_core.programs.vote_shards import read_label_matrix

    label_model = load_pickle(Storage(model.uri).read_bytes())
    out: dict[str, list[str]] = {}
    for split, uris in votes.shards.items():
        out[split] = []
        for uri in uris:
            row_ids, L, _ = read_label_matrix([uri], list(model.programs))
            posterior = label_model.predict_proba(L)
            name = uri.rsplit("/", 1)[-1]
            out[split].append(run.run.write_table(pseudolabel_table(row_ids, posterior, L), "labels", split, name))
    return PseudolabelSet.of(out, model, votes)
