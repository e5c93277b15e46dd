"""Fit the label model on training votes and turn every split's votes into pseudolabels."""

from __future__ import annotations

import pickle
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from alchemist_core.digest import sha256_bytes
from alchemist_core.storage import Storage, open_storage
from tasks.caching import CACHE_POLICY, retry_transient


@task(name="fit-label-model", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def fit_label_model(
    votes: dict[str, list[str]],
    programs: list[str],
    data_root: str,
    settings: dict[str, Any],
    n_classes: int,
    train_split: str,
    valid_split: str,
    seed: int,
    run_root: str,
    core: str,
    votes_digest: str | None = None,
    selection: Any = None,
) -> dict[str, Any]:
    """Fit the label model the run chose out of fold, on (a seeded sample of) the training votes.

    ``selection`` (a :class:`~alchemist_core.selection.Selection`) names the model; it is
    refitted here with every labeled valid row (class balance, and for ``weighted+valid`` the
    program accuracies). Without a selection (too few labeled rows) the configured model is
    fitted on the votes alone (``auto``: majority vote). The training votes are read one shard
    at a time into a sample of at most ``max_fit_rows`` rows (the draw
    :class:`~alchemist_core.aggregate.SnorkelLabelModel` makes itself), so memory does not grow
    with the dataset. ``votes_digest`` (from ``collect-votes``) keys the cache on the votes'
    content: their URIs stay the same when a program changes.
    """
    import numpy as np

    from alchemist_core.aggregate import make_label_model
    from alchemist_core.ingest import read_gold
    from alchemist_core.selection import fit_label_model as fit_chosen
    from alchemist_core.votes import read_label_matrix, sample_label_matrix

    logger = get_run_logger()
    data = open_storage(data_root)
    L_train, n_train = sample_label_matrix(votes[train_split], programs, settings["max_fit_rows"], seed)
    if len(L_train) < n_train:
        logger.info("label model fitted on a sample of %d of %d training rows", len(L_train), n_train)
    params = {"snorkel": {"n_epochs": settings["n_epochs"], "max_fit_rows": settings["max_fit_rows"]}}
    scores: dict[str, Any] = {}
    metric = None
    if selection is not None:
        name = selection.label_model
        valid_ids, L_valid, _ = read_label_matrix(votes[valid_split], programs)
        gold_ids, y_valid = read_gold(data, valid_split)
        lookup = dict(zip(gold_ids.tolist(), y_valid.tolist()))
        y = np.asarray([lookup.get(r, -1) for r in valid_ids.tolist()], dtype=np.int64)
        model = fit_chosen(name, L_train, L_valid[y >= 0], y[y >= 0], n_classes, seed=seed, params=params)
        metric = selection.chosen_by
        scores = {s.name: s.score(metric) for s in selection.label_models}
        logger.info("label model %s (chosen out of fold by %s) refitted with %d labeled rows", name, metric, int((y >= 0).sum()))
    else:
        name = "majority" if settings["name"] == "auto" else settings["name"]
        model = make_label_model(name, n_classes, seed=seed, **params.get(name, {})).fit(L_train)
        logger.info("label model %s fitted on the votes alone (no labeled rows to choose on)", name)
    run = open_storage(run_root)
    payload = pickle.dumps(model)
    uri = run.write_bytes(payload, "label_model", "model.pkl")
    digest = sha256_bytes(payload)
    run.write_json(
        {
            "name": name, "metric": metric, "valid_scores": scores, "programs": programs, "digest": digest,
            "votes_digest": votes_digest, "fit_rows": len(L_train), "train_rows": n_train,
        },
        "label_model", "summary.json",
    )  # fmt: skip
    return {"uri": uri, "name": name, "metric": metric, "valid_scores": scores, "digest": digest}


@task(name="predict-labels", cache_policy=CACHE_POLICY, persist_result=True, retries=1, retry_condition_fn=retry_transient)
def predict_labels(
    model: dict[str, Any],
    votes: dict[str, list[str]],
    programs: list[str],
    run_root: str,
    core: str,
    votes_digest: str | None = None,
) -> dict[str, list[str]]:
    """Pseudolabels for every split, shard by shard, so memory stays bounded.

    ``model`` may be another run's (a relabel run applies a stored label model to new votes).
    """
    from alchemist_core.pseudolabels import pseudolabel_table
    from alchemist_core.votes import read_label_matrix

    label_model = pickle.loads(Storage(model["uri"]).read_bytes())
    run = open_storage(run_root)
    out: dict[str, list[str]] = {}
    for split, uris in votes.items():
        out[split] = []
        for uri in uris:
            row_ids, L, _ = read_label_matrix([uri], programs)
            posterior = label_model.predict_proba(L)
            name = uri.rsplit("/", 1)[-1]
            out[split].append(run.write_table(pseudolabel_table(row_ids, posterior, L), "labels", split, name))
    return out
