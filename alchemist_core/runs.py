"""Run bookkeeping that the flows' tasks call: run folders, shard plans, vote results."""

from __future__ import annotations

import platform
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from alchemist_core.config import EXECUTION_ONLY
from alchemist_core.data.layout import RunLayout
from alchemist_core.data.storage import Storage, parquet_bytes
from alchemist_core.digest import combine, sha256_bytes
from alchemist_core.refs import ProgramSetRef, RunContext, ShardJob, ShardVotes, VoteSet
from alchemist_core.spec import TaskSpec, load_spec


def default_run_id(spec_name: str, config_digest: str) -> str:
    """A run id derived from the config: the same config lands in the same folder."""
    return f"{spec_name}-{config_digest[:10]}"


def _what_counts(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in EXECUTION_ONLY}


def check_ready(config: Any) -> None:
    """Fail before anything starts when the run's LLM settings cannot make a call (see
    :func:`alchemist_core.llm.setup.check_llm_settings`); runs without an LLM pass."""
    from alchemist_core.llm.setup import check_llm_settings

    generator = getattr(config, "generator", None)
    openai = getattr(generator, "openai", None)
    if openai is not None and generator.kind == "openai":
        check_llm_settings(openai.model_dump(mode="json"), models=[openai.supplement_model or openai.model])
    llm = getattr(config, "llm", None)
    if llm is not None and getattr(config, "needs_llm", False):
        check_llm_settings(llm.model_dump(mode="json"))


RUN_KINDS = ("label", "review", "relabel", "images")
"""What a run folder holds: a labeling run, a programs-only review (``generate``), a relabel or an image run."""



def _check_run_kind(run: Storage, kind: str) -> None:
    """Refuse to start a run of ``kind`` in a folder that holds a run of another kind (its artifacts would be overwritten)."""
    from alchemist_core.errors import InputError

    held = None
    if run.exists("run.json"):
        held = run.read_json("run.json").get("kind")
    elif kind == "review" and run.exists("metrics.json"):
        held = "labeling"  # a folder written before run.json existed: only labeling runs write metrics.json
    elif kind != "review" and run.exists("review.json") and not run.exists("metrics.json"):
        held = "review"
    if held is not None and held != kind:
        raise InputError(
            f"the run folder {run.root} holds a {held} run; a {kind} run there would overwrite its report and artifacts: "
            "choose another --run-id, or leave it empty for one derived from the config"
        )


def start_run_folder(
    root: Storage,
    config: Mapping[str, Any],
    config_digest: str,
    spec: TaskSpec | None = None,
    *,
    prefix: str = "",
    kind: str = "label",
) -> RunContext:
    """Create the run folder with ``run.json``, ``config.json`` and ``spec.json``; returns the run's context.

    ``spec`` is read from ``config["spec"]`` unless given (a relabel run takes its source
    run's). ``prefix`` starts a derived run id (``relabel-``, ``review-``), so runs of different
    flows never share a folder; ``kind`` (one of :data:`RUN_KINDS`) is recorded in ``run.json``,
    and a folder holding another kind of run is refused, even under an explicit run id. A new
    folder gets a new ``incarnation`` (kept in ``run.json`` while the folder lives), part of
    every cached stage's key: a deleted and recreated folder computes its artifacts again.
    """
    import alchemist_core

    if kind not in RUN_KINDS:
        raise ValueError(f"kind must be one of {RUN_KINDS}, got {kind!r}")
    spec = spec if spec is not None else load_spec(config["spec"])
    run_id = config.get("run_id") or prefix + default_run_id(spec.name, config_digest)
    layout = RunLayout(root, run_id)
    run = layout.run
    _check_run_kind(run, kind)
    if run.exists("config.json"):
        previous = run.read_json("config.json")
        if _what_counts(previous) != _what_counts(config):
            from alchemist_core.errors import InputError

            differing = sorted(k for k in set(previous) | set(config) if k not in EXECUTION_ONLY and previous.get(k) != config.get(k))
            raise InputError(
                f"the run folder {run.root} already holds a run of another configuration (it differs in {differing}); "
                f"expected the same configuration to resume it: choose another --run-id, or leave it empty for one derived from the config"
            )
    previous_run = run.read_json("run.json") if run.exists("run.json") else {}
    incarnation = previous_run.get("incarnation") or uuid.uuid4().hex[:16]
    run.write_json({"kind": kind, "run_id": run_id, "incarnation": incarnation}, "run.json")
    run.write_json(dict(config), "config.json")
    run.write_json(spec.model_dump(mode="json"), "spec.json")
    return RunContext(
        run_id=run_id,
        storage_root=root.root,
        run_root=layout.run.root,
        cache_root=layout.cache.root,
        seed=int(config.get("seed", 0)),
        spec=spec,
        config_digest=config_digest,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        alchemist_version=alchemist_core.__version__,
        python=platform.python_version(),
        incarnation=incarnation,
    )


# Most Prefect tasks one program application makes: past this, batches grow instead (the
# API and the task runner handle tens of tasks well, not thousands).
MAX_APPLY_TASKS = 32


def shard_plan(
    manifest: Mapping[str, Any], run_root: str, shards_per_task: int, *, max_tasks: int = MAX_APPLY_TASKS
) -> list[list[ShardJob]]:
    """Batches of :class:`~alchemist_core.refs.ShardJob`; vote shards mirror the data shards' names.

    Batches hold ``shards_per_task`` shards, or more when that would make over ``max_tasks`` batches.

    Examples
    --------
    >>> manifest = {"splits": {"train": {"shards": [f"s{i}" for i in range(100)]}}}
    >>> [len(b) for b in shard_plan(manifest, "/tmp/run", 4, max_tasks=10)]
    [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    """
    run = Storage(run_root)
    items = []
    # Sorted: a manifest read back from JSON lists splits in another order than a fresh ingest,
    # and the batches key the cache.
    for split, info in sorted(manifest["splits"].items()):
        digests = info.get("shard_digests") or [None] * len(info["shards"])
        for shard, digest in zip(info["shards"], digests):
            name = shard.rsplit("/", 1)[-1]
            items.append(ShardJob(split=split, shard=shard, shard_digest=digest, votes_uri=run.uri("votes", split, name)))
    size = max(shards_per_task, -(-len(items) // max_tasks))
    return [items[i : i + size] for i in range(0, len(items), size)]


def combine_vote_results(results: Sequence[Sequence[ShardVotes]], programs: ProgramSetRef) -> VoteSet:
    """Sum faults per program over shards; quarantine programs that timed out or were killed.

    A program that timed out or killed its worker on any shard is quarantined everywhere, so
    its votes do not depend on which shard happened to be slow: the label model ignores it.
    ``digest`` identifies the content of every vote shard (``None`` when a shard has no
    digest); ``computed`` counts, per program, the shards on which it actually ran.
    """
    program_names = list(programs.names)
    faults: dict[str, dict[str, Any]] = {
        name: {"n_errors": 0, "n_invalid": 0, "timed_out": False, "quarantined": None, "first_error": None, "seconds": 0.0}
        for name in program_names
    }
    votes: dict[str, list[str]] = {}
    shard_digests: list[str] = []
    computed = {name: 0 for name in program_names}
    n_rows = 0
    for batch in results:
        for shard in batch:
            split = shard.uri.rsplit("/", 2)[-2]
            votes.setdefault(split, []).append(shard.uri)
            n_rows += shard.n_rows
            shard_digests.append(f"{split}/{shard.uri.rsplit('/', 1)[-1]}:{shard.digest}")
            for name in shard.computed:
                computed[name] += 1
            for name, fault in shard.faults.items():
                total = faults[name]
                total["n_errors"] += fault["n_errors"]
                total["n_invalid"] += fault["n_invalid"]
                total["seconds"] += fault["seconds"]
                total["timed_out"] = total["timed_out"] or fault["timed_out"]
                total["quarantined"] = total["quarantined"] or fault["quarantined"]
                total["first_error"] = total["first_error"] or fault["first_error"]
    quarantined = {}
    for name, total in faults.items():
        if total["quarantined"]:
            quarantined[name] = total["quarantined"]
        elif total["timed_out"]:
            quarantined[name] = "timed out on at least one shard"
    for uris in votes.values():
        uris.sort()
    active = [name for name in program_names if name not in quarantined]
    complete = all(not entry.endswith(":None") for entry in shard_digests)
    digest = combine(*sorted(shard_digests)) if complete else None
    return VoteSet(
        shards={split: tuple(uris) for split, uris in votes.items()}, programs=tuple(program_names), active=tuple(active),
        digest=digest, faults=faults, quarantined=quarantined, computed=computed, n_rows=n_rows,
        program_digests=programs.program_digests(),
    )  # fmt: skip


def require_active_programs(votes: VoteSet) -> None:
    """Raise :class:`~alchemist_core.errors.NoProgramsError` when programs ran but every one was quarantined."""
    if votes.active or not votes.programs:
        return
    from alchemist_core.errors import NoProgramsError

    reasons = [f"  - {name}: {reason}" for name, reason in sorted(votes.quarantined.items())]
    raise NoProgramsError(
        "\n".join(
            [f"no usable labeling program: all {len(votes.programs)} programs were quarantined while labeling the data, "
             "so there is nothing to label with"] + reasons  # fmt: skip
        )
    )


def weak_label_votes(manifest: Mapping[str, Any], data_root: str, run_root: str) -> VoteSet:
    """Write the dataset's weak labels as vote shards, one per split, named ``weak_00 ..``."""
    from alchemist_core.data.ingest import read_gold, read_weak_labels
    from alchemist_core.programs.vote_shards import votes_table

    data = Storage(data_root)
    run = Storage(run_root)
    votes: dict[str, list[str]] = {}
    names: list[str] = []
    digests: list[str] = []
    for split in manifest["splits"]:
        L = read_weak_labels(data, split)
        if L is None:
            continue
        row_ids, _ = read_gold(data, split)
        names = [f"weak_{j:02d}" for j in range(L.shape[1])]
        payload = parquet_bytes(votes_table(row_ids, L, names))
        votes[split] = [run.write_bytes(payload, "votes", split, RunLayout.shard_name(0))]
        digests.append(f"{split}:{sha256_bytes(payload)}")
    if not votes:
        from alchemist_core.errors import InputError

        raise InputError("generator kind 'weak_labels' needs a dataset with weak labels (a WRENCH folder); this one has none")
    faults = {n: {"n_errors": 0, "n_invalid": 0, "timed_out": False, "quarantined": None, "first_error": None, "seconds": 0.0} for n in names}
    return VoteSet(
        shards={split: tuple(uris) for split, uris in votes.items()}, programs=tuple(names), active=tuple(names),
        digest=combine(*digests), faults=faults,
    )  # fmt: skip


# Training rows the curation looks at at most (a seeded sample keeps it cheap on big data).
CURATION_SAMPLE_ROWS = 50_000


def curate_votes(
    votes: VoteSet,
    data_root: str,
    *,
    n_classes: int,
    train_split: str,
    valid_split: str,
    seed: int = 0,
) -> VoteSet:
    """Drop programs that never vote, are constant, duplicate another or are below chance.

    Below chance is judged on the valid split's gold labels only, where they exist; the rest
    needs no labels; duplicates are told apart by ``votes.program_digests``. Returns ``votes``
    with ``active`` narrowed and ``dropped`` (name -> reason).
    """
    import numpy as np

    from alchemist_core.data.ingest import read_gold
    from alchemist_core.programs.curate import curate_programs
    from alchemist_core.programs.vote_shards import read_label_matrix
    from alchemist_core.sampling import sample_rows

    active = list(votes.active)
    if not active or train_split not in votes.shards:
        return votes.model_copy(update={"dropped": {}})
    _, L_train, _ = read_label_matrix(votes.split_shards(train_split), active)
    keep_rows = sample_rows(len(L_train), CURATION_SAMPLE_ROWS, seed)
    if keep_rows is not None:
        L_train = L_train[keep_rows]
    L_labeled = y_labeled = None
    if valid_split in votes.shards:
        row_ids, L_valid, _ = read_label_matrix(votes.split_shards(valid_split), active)
        gold_ids, gold = read_gold(Storage(data_root), valid_split)
        lookup = dict(zip(gold_ids.tolist(), gold.tolist()))
        y = np.asarray([lookup.get(r, -1) for r in row_ids.tolist()], dtype=np.int64)
        if (y >= 0).any():
            L_labeled, y_labeled = L_valid[y >= 0], y[y >= 0]
    result = curate_programs(
        L_train,
        active,
        n_classes=n_classes,
        L_labeled=L_labeled,
        y_labeled=y_labeled,
        digests=[votes.program_digests[n] for n in active] if votes.program_digests else None,
    )
    dropped = dict(result.dropped)
    return votes.model_copy(update={"active": tuple(n for n in active if n in set(result.keep)), "dropped": dropped})
