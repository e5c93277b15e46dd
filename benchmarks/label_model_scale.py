"""Label aggregation at scale: Snorkel's label model on 10M rows x 50 programs x 5 classes.

Three steps, each in a fresh child process whose peak resident set is measured:

1. **generate**: synthetic votes (conditionally independent programs, coverage U(0.1, 0.5),
   accuracy U(0.55, 0.9), as in ANCHORS C2), written shard by shard as the pipeline's vote
   shards (``row_id`` plus one int8 column per program), the true classes beside them;
2. **label**: ``fit`` reads the training votes and fits
   :class:`~alchemist_core.labelmodel.aggregate.SnorkelLabelModel`, which fits snorkel on a seeded sample
   of ``max_fit_rows`` rows; ``predict`` then reads one vote shard at a time, computes its
   posterior and writes its pseudolabel shard. Two reads: ``all votes`` holds every vote
   (:func:`alchemist_core.programs.vote_shards.read_label_matrix`, the baseline); ``sampled read`` is what
   ``alchemist_core.stages.fit_run_label_model`` does (:func:`alchemist_core.programs.vote_shards.sample_label_matrix`): it draws
   the same sample the model would draw, one shard at a time, so both fit the same model;
3. **scaling**: step 2 again on the first shards only (``--scaling-rows``, 1M and 3M rows by
   default), so that with the full size the table shows how time and peak memory grow with
   the number of rows for each read;
4. **agreement**: on a size where the full fit also fits in memory, the model fitted on every
   row and the model fitted on a ``max_fit_rows`` sample label the same rows; the table shows
   how many pseudolabels agree and both accuracies against the true classes.

Usage::

    python benchmarks/label_model_scale.py [--rows 10000000] [--programs 50] [--classes 5]
        [--shard-rows 50000] [--max-fit-rows 200000] [--scaling-rows 1000000,3000000]
        [--agreement-rows 1000000] [--quick]
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import common  # noqa: I001  (sets thread variables before numpy loads)
import numpy as np
from common import (
    describe_machine,
    gib,
    machine_summary,
    print_table,
    run_in_child,
    write_json,
)

MEMORY_TARGET_GIB = 4.0
# Rows whose two most probable classes differ by at least this much are not close calls.
CONFIDENT_MARGIN = 0.05


def program_quality(n_programs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and coverage of each synthetic program."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.55, 0.9, n_programs), rng.uniform(0.1, 0.5, n_programs)


def program_names(n_programs: int) -> list[str]:
    return [f"p{j:03d}" for j in range(n_programs)]


# -- step 1: generate ------------------------------------------------------------------------
def generate(root: str, n_rows: int, n_programs: int, n_classes: int, shard_rows: int, seed: int) -> dict[str, Any]:
    """Write vote shards and true classes under ``root``, one shard of votes in memory at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from alchemist_core.data.storage import open_storage
    from alchemist_core.labelmodel.synthetic import make_synthetic_votes
    from alchemist_core.programs.vote_shards import votes_table

    storage = open_storage(root)
    accuracies, coverages = program_quality(n_programs, seed)
    names = program_names(n_programs)
    uris = []
    for index, start in enumerate(range(0, n_rows, shard_rows)):
        n = min(shard_rows, n_rows - start)
        votes = make_synthetic_votes(n, accuracies, coverages, n_classes, seed=seed + 1 + index)
        positions = pc.cast(pa.array(np.arange(start, start + n)), pa.string())
        row_ids = pc.binary_join_element_wise("train:", positions, "")
        uris.append(storage.write_table(votes_table(row_ids, votes.L, names), "votes", "train", f"shard-{index:05d}.parquet"))
        storage.write_table(pa.table({"y": pa.array(votes.y.astype(np.int8))}), "truth", f"shard-{index:05d}.parquet")
    return {"uris": uris, "bytes_on_disk": sum(p.stat().st_size for p in Path(root).rglob("*.parquet"))}


def _warm_up_snorkel() -> None:
    """Import snorkel and fit it once on a tiny matrix before any clock starts.

    The imports and torch's set-up on the first fit (seconds, once per process) are not
    fitting; they do not grow with the data.
    """
    from alchemist_core.labelmodel.aggregate import SnorkelLabelModel
    from alchemist_core.labelmodel.synthetic import make_synthetic_votes

    tiny = make_synthetic_votes(100, [0.8, 0.7, 0.6], [0.5, 0.5, 0.5], 2, seed=0)
    SnorkelLabelModel(2, n_epochs=2).fit(tiny.L)


# -- step 2: label ---------------------------------------------------------------------------
def label(
    root: str, uris: Sequence[str], n_rows: int, n_programs: int, n_classes: int, settings: dict[str, Any], read: str
) -> dict[str, Any]:
    """Fit the label model and write pseudolabels shard by shard; times, accuracy and sizes."""
    from alchemist_core.data.storage import open_storage
    from alchemist_core.labelmodel.aggregate import make_label_model
    from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
    from alchemist_core.programs.vote_shards import (
        read_label_matrix,
        sample_label_matrix,
    )

    _warm_up_snorkel()
    names = program_names(n_programs)
    out = open_storage(root).child("labels", read.replace(" ", "-"))
    truth = open_storage(root).child("truth")
    started = time.perf_counter()
    if read == "all votes":
        _, L_train, _ = read_label_matrix(uris, names)
    else:
        L_train, _ = sample_label_matrix(uris, names, settings["max_fit_rows"], settings["seed"])
    read_seconds = time.perf_counter() - started
    n_read = len(L_train)

    started = time.perf_counter()
    model = make_label_model(
        "snorkel", n_classes, seed=settings["seed"], n_epochs=settings["n_epochs"], max_fit_rows=settings["max_fit_rows"]
    )
    model.fit(L_train)
    fit_seconds = time.perf_counter() - started
    del L_train

    started = time.perf_counter()
    n_correct = n_labeled = 0
    for uri in uris:
        row_ids, L, _ = read_label_matrix([uri], names)
        posterior = model.predict_proba(L)
        table = pseudolabel_table(row_ids, posterior, L)
        name = uri.rsplit("/", 1)[-1]
        out.write_table(table, name)
        y = truth.read_table(name).column("y").to_numpy()
        predicted = table.column("label").to_numpy()
        n_correct += int((predicted == y).sum())
        n_labeled += int((predicted >= 0).sum())
    predict_seconds = time.perf_counter() - started
    return {
        "read": read,
        "rows_read_for_fit": n_read,
        "n_fit_rows": model.n_fit_rows_,
        "read_seconds": read_seconds,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "accuracy": n_correct / max(n_rows, 1),
        "coverage": n_labeled / max(n_rows, 1),
        "pseudolabel_shards": len(uris),
    }


# -- step 3: agreement -------------------------------------------------------------------------
def fit_and_predict(n_rows: int, n_programs: int, n_classes: int, settings: dict[str, Any], max_fit_rows: int) -> dict[str, Any]:
    """Pseudolabels of ``n_rows`` synthetic rows from a model fitted on at most ``max_fit_rows`` of them.

    The labels are those of the pseudolabel table: the posterior's argmax, ``-1`` where no
    program voted. ``margin`` is the gap between the two most probable classes.
    """
    from alchemist_core.labelmodel.aggregate import make_label_model
    from alchemist_core.labelmodel.pseudolabels import pseudolabel_table
    from alchemist_core.labelmodel.synthetic import make_synthetic_votes

    _warm_up_snorkel()
    accuracies, coverages = program_quality(n_programs, settings["seed"])
    votes = make_synthetic_votes(n_rows, accuracies, coverages, n_classes, seed=settings["seed"] + 10_000)
    started = time.perf_counter()
    model = make_label_model("snorkel", n_classes, seed=settings["seed"], n_epochs=settings["n_epochs"], max_fit_rows=max_fit_rows)
    model.fit(votes.L)
    fit_seconds = time.perf_counter() - started
    posterior = model.predict_proba(votes.L)
    labels = pseudolabel_table(np.arange(n_rows).astype(str), posterior, votes.L).column("label").to_numpy().astype(np.int8)
    top_two = np.sort(posterior, axis=1)[:, -2:]
    return {
        "n_fit_rows": model.n_fit_rows_,
        "fit_seconds": fit_seconds,
        "labels": labels,
        "margin": (top_two[:, 1] - top_two[:, 0]).astype(np.float32),
        "posterior": posterior.astype(np.float32),
        "accuracy": float((labels == votes.y).mean()),
        "coverage": float((labels >= 0).mean()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--shard-rows", type=int, default=50_000, help="rows per vote shard (the pipeline's default)")
    parser.add_argument(
        "--max-fit-rows", type=int, default=200_000, help="the label model's fit sample (the pipeline's default)"
    )
    parser.add_argument("--n-epochs", type=int, default=500, help="snorkel epochs (the pipeline's default)")
    parser.add_argument(
        "--scaling-rows", default="1000000,3000000", type=lambda text: [int(x) for x in text.split(",") if x.strip()],
        help="smaller sizes, read from the first shards, where step 2 runs again to show how it scales ('' for none)",
    )
    parser.add_argument(
        "--agreement-rows", type=int, default=1_000_000, help="size where the full fit is compared with the sampled one"
    )
    parser.add_argument(
        "--agreement-programs", default="50,10", type=lambda text: [int(x) for x in text.split(",")],
        help="program counts of the agreement check; fewer programs leave more rows in doubt",
    )
    parser.add_argument(
        "--reads", default="all votes,sampled read", help="comma-separated: 'all votes' (every vote in memory) and/or 'sampled read' (the pipeline)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.programs, args.classes, args.shard_rows = 20_000, 10, 3, 5_000
        args.max_fit_rows, args.n_epochs, args.agreement_rows = 4_000, 50, 20_000
        args.agreement_programs = [10]
        args.scaling_rows = [10_000]
    logging.basicConfig(level=logging.WARNING)
    settings = {"seed": args.seed, "n_epochs": args.n_epochs, "max_fit_rows": args.max_fit_rows}
    reads = [r.strip() for r in args.reads.split(",") if r.strip()]

    machine = machine_summary()
    print(f"machine: {describe_machine(machine)}")
    payload: dict[str, Any] = {"machine": machine, "settings": vars(args) | {"json": str(args.json)}}
    shape = f"{args.rows:,} rows x {args.programs} programs x {args.classes} classes"
    with tempfile.TemporaryDirectory(prefix="alchemist-bench-lm-", dir=args.workdir) as folder:
        made = run_in_child(generate, folder, args.rows, args.programs, args.classes, args.shard_rows, args.seed)
        uris = made.value["uris"]
        on_disk = f"{len(uris)} shards, {made.value['bytes_on_disk'] / 2**20:,.1f} MiB Parquet"
        rows = [["generate votes", "-", "-", "-", f"{made.seconds:.1f}", gib(made.peak_rss), "-", on_disk]]
        payload["generate"] = {"seconds": made.seconds, "peak_rss": made.peak_rss, **made.value, "uris": len(uris)}
        payload["label"] = []
        for read in reads:
            run = run_in_child(label, folder, uris, args.rows, args.programs, args.classes, settings, read)
            result = run.value
            within = "yes" if run.peak_rss < MEMORY_TARGET_GIB * 2**30 else "NO"
            rows.append([
                f"fit + predict ({read})", f"{result['read_seconds']:.1f}", f"{result['fit_seconds']:.1f}",
                f"{result['predict_seconds']:.1f}", f"{run.seconds:.1f}", gib(run.peak_rss), within,
                f"fit on {result['n_fit_rows']:,} rows; accuracy {result['accuracy']:.4f}",
            ])
            payload["label"].append({"seconds": run.seconds, "start_rss": run.start_rss, "peak_rss": run.peak_rss, **result})
        print_table(
            f"Label model at {shape}, shards of {args.shard_rows:,} rows, snorkel {args.n_epochs} epochs",
            ["step", "read s", "fit s", "predict+write s", "total s", "peak RSS", f"< {MEMORY_TARGET_GIB:g} GiB", "notes"],
            rows,
        )

        payload["scaling"] = [
            {"rows": args.rows, "read": run["read"], "seconds": run["seconds"], "peak_rss": run["peak_rss"]}
            for run in payload["label"]
        ]
        # Whole shards only; a size that needs every shard is the full size, measured above.
        for n_shards in sorted({-(-n // args.shard_rows) for n in args.scaling_rows if n > 0} - {len(uris)}):
            if n_shards > len(uris):
                continue
            n_rows = n_shards * args.shard_rows
            for read in reads:
                run = run_in_child(label, folder, uris[:n_shards], n_rows, args.programs, args.classes, settings, read)
                payload["scaling"].append({"rows": n_rows, "read": read, "seconds": run.seconds, "peak_rss": run.peak_rss})
        payload["scaling"].sort(key=lambda point: (point["read"], point["rows"]))
        print_table(
            f"How the label step grows with rows ({args.programs} programs x {args.classes} classes, fit on at most "
            f"{args.max_fit_rows:,} rows, the first shards of the same votes)",
            ["read", "rows", "total s", "s per million rows", "peak RSS"],
            [
                [p["read"], p["rows"], f"{p['seconds']:.1f}", f"{p['seconds'] / p['rows'] * 1e6:.1f}", gib(p["peak_rss"])]
                for p in payload["scaling"]
            ],
        )

    payload["agreement"] = []
    rows = []
    for n_programs in args.agreement_programs:
        full = run_in_child(fit_and_predict, args.agreement_rows, n_programs, args.classes, settings, args.agreement_rows)
        sampled = run_in_child(fit_and_predict, args.agreement_rows, n_programs, args.classes, settings, args.max_fit_rows)
        same = full.value["labels"] == sampled.value["labels"]
        confident = full.value["margin"] >= CONFIDENT_MARGIN
        agree, agree_confident = float(same.mean()), float(same[confident].mean()) if confident.any() else float("nan")
        differ = ~same
        median_margin = float(np.median(full.value["margin"][differ])) if differ.any() else float("nan")
        max_gap = float(np.abs(full.value["posterior"] - sampled.value["posterior"]).max())
        for fit, name, same_share, confident_share, margin in (
            (full, "all", "100%", "100%", "-"),
            (sampled, "a sample of", f"{agree:.4%}", f"{agree_confident:.4%}", f"{median_margin:.1e}"),
        ):
            value = fit.value
            rows.append([
                n_programs, f"{name} {value['n_fit_rows']:,} rows", f"{value['fit_seconds']:.1f}", gib(fit.peak_rss),
                f"{value['coverage']:.4f}", f"{value['accuracy']:.4f}", same_share, confident_share, margin,
            ])
        arrays = ("labels", "margin", "posterior")
        payload["agreement"].append({
            "rows": args.agreement_rows,
            "programs": n_programs,
            "full": {k: v for k, v in full.value.items() if k not in arrays} | {"peak_rss": full.peak_rss},
            "sampled": {k: v for k, v in sampled.value.items() if k not in arrays} | {"peak_rss": sampled.peak_rss},
            "agreement": agree,
            "agreement_confident": agree_confident,
            "confident_share": float(confident.mean()),
            "median_full_margin_where_different": median_margin,
            "max_posterior_difference": max_gap,
        })
    print_table(
        f"Sampled fit against full fit on {args.agreement_rows:,} rows x {args.classes} classes",
        ["programs", "fit on", "fit s", "peak RSS", "coverage", "accuracy", "same pseudolabels",
         f"same where the full fit's margin >= {CONFIDENT_MARGIN:g}", "full fit's median margin where they differ"],
        rows,
    )
    print(
        "\npseudolabels as in the pseudolabel table: the posterior's argmax, -1 where no program voted; "
        "accuracy counts those -1 as wrong; margin: the gap between the two most probable classes"
    )
    print(f"\nload average after the run: {[round(x, 2) for x in common.os.getloadavg()]}")
    write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
