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
    metric: str = "accuracy",
) -> dict[str, Any]:
    """Fit on (a seeded sample of) the training split's votes; choose on the valid split only.

    With ``auto`` every label model is scored on the valid split by ``metric``; a fixed name
    with ``use_valid_labels`` is scored with and without the valid labels as its dev set. The
    training votes are read one shard at a time into a sample of at most ``max_fit_rows``
    rows (the draw :class:`~alchemist_core.aggregate.SnorkelLabelModel` makes itself), so
    memory does not grow with the dataset. ``votes_digest`` (from ``collect-votes``) keys the
    cache on the votes' content: their URIs stay the same when a program changes. The
    returned reference's ``digest`` is that of the stored model.
    """
    from alchemist_core.aggregate import make_label_model, select_label_model
    from alchemist_core.ingest import read_gold
    from alchemist_core.votes import read_label_matrix, sample_label_matrix

    logger = get_run_logger()
    data = open_storage(data_root)
    L_train, n_train = sample_label_matrix(votes[train_split], programs, settings["max_fit_rows"], seed)
    if len(L_train) < n_train:
        logger.info("label model fitted on a sample of %d of %d training rows", len(L_train), n_train)
    params = {"snorkel": {"n_epochs": settings["n_epochs"], "max_fit_rows": settings["max_fit_rows"]}}
    use_valid_labels = settings.get("use_valid_labels", True)
    scores: dict[str, Any] = {}
    name = settings["name"]
    valid_gold = None
    if valid_split in votes:
        _, y_valid = read_gold(data, valid_split)
        if (y_valid >= 0).any():
            _, L_valid, _ = read_label_matrix(votes[valid_split], programs)
            valid_gold = (L_valid, y_valid)
    if valid_gold is not None and (name == "auto" or use_valid_labels):
        candidates = ("majority", "weighted", "snorkel") if name == "auto" else (name,)
        name, model, scores = select_label_model(
            L_train, valid_gold[0], valid_gold[1], n_classes, candidates=candidates, seed=seed, params=params,
            metric=metric, use_valid_labels=use_valid_labels,
        )
        logger.info("label model chosen on %s by %s: %s (%s)", valid_split, metric, name, scores)
    else:
        if name == "auto":
            name = "majority"
            logger.info("no gold labels on %s: using majority vote", valid_split)
        model = make_label_model(name, n_classes, seed=seed, **params.get(name, {})).fit(L_train)
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
