"""Program application throughput: the sandbox against Snorkel's PandasLFApplier, and Dask scaling.

Part 1, one worker. The same 10 keyword programs run over the same synthetic 30-word texts
(the shape of ANCHORS C2) three ways, interleaved and repeated, best time kept:

* Snorkel's ``PandasLFApplier`` (row-wise ``DataFrame.apply``), the baseline;
* a bare Python loop calling each program's ``label`` on ``{"text": t}``, without any sandbox:
  the practical limit of running Python programs one row at a time;
* :func:`alchemist_core.programs.apply.label_partition`, sandbox on (static policy, worker process,
  restricted builtins, limits), as the pipeline runs it.

All three must give the same label matrix. The table shows rows per second and the ratio to
Snorkel.

Part 2, Dask scaling. The rows are written as Parquet shards; the pipeline's ``LocalCluster``
(:func:`alchemist_core.cluster.start_local_cluster`) with two worker processes (one thread
each) runs :func:`alchemist_core.programs.votes.apply_shard` on every
shard, each worker reading its own shards and writing their vote shards, first pinned to one
worker, then spread over both (interleaved, best of ``--repeats``).

Usage::

    python benchmarks/apply_throughput.py [--rows 100000] [--shards 16] [--shard-rows 50000]
                                          [--repeats 3] [--quick] [--json out.json]
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import common  # noqa: I001  (sets thread variables before numpy loads)
import numpy as np
from common import (
    describe_machine,
    interleaved,
    machine_summary,
    print_table,
    ratio,
    runs,
    write_json,
)

logger = logging.getLogger("benchmarks.apply_throughput")

KEYWORDS = ("free", "money", "click", "subscribe", "check", "video", "love", "song", "great", "http")
N_CLASSES = 2
WORDS_PER_TEXT = 30
FILLER_WORDS = 2000
METHODS = {
    "snorkel": "Snorkel PandasLFApplier",
    "bare_loop": "bare Python loop (no sandbox)",
    "sandbox": "alchemist label_partition (sandbox on)",
}


def make_texts(n_rows: int, seed: int) -> list[str]:
    """``n_rows`` texts of 30 words drawn from 2,000 filler words and the 10 keywords."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(FILLER_WORDS)] + list(KEYWORDS), dtype=object)
    words = vocabulary[rng.integers(0, len(vocabulary), size=(n_rows, WORDS_PER_TEXT))]
    return [" ".join(row) for row in words.tolist()]


def program_sources() -> list[tuple[str, str]]:
    """Ten keyword programs: each votes one class when its keyword is in the text, else abstains."""
    return [
        (f"has_{word}", f"def label(x):\n    return {j % N_CLASSES} if {word!r} in x['text'] else -1\n")
        for j, word in enumerate(KEYWORDS)
    ]


def trusted_functions(sources: Sequence[tuple[str, str]]) -> list[tuple[str, Callable[[Any], int]]]:
    """The programs' ``label`` functions compiled in this process: only for the baselines."""
    functions = []
    for name, source in sources:
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<program {name}>", "exec"), namespace)  # our own sources, not generated ones
        functions.append((name, namespace["label"]))
    return functions


# -- part 1: one worker ------------------------------------------------------------------------
def single_worker(n_rows: int, repeats: int, seed: int) -> dict[str, Any]:
    import pandas as pd
    from snorkel.labeling import LabelingFunction, PandasLFApplier

    from alchemist_core.programs.apply import label_partition
    from alchemist_core.programs.program_set import LabelingProgram, ProgramSet

    texts = make_texts(n_rows, seed)
    frame = pd.DataFrame({"text": texts})
    sources = program_sources()
    program_set = ProgramSet(tuple(LabelingProgram(name, source) for name, source in sources))
    functions = trusted_functions(sources)
    applier = PandasLFApplier([LabelingFunction(name, f=function) for name, function in functions])

    def snorkel() -> np.ndarray:
        return applier.apply(frame, progress_bar=False)

    def bare_loop() -> np.ndarray:
        L = np.empty((len(texts), len(functions)), dtype=np.int8)
        for j, (_, function) in enumerate(functions):
            L[:, j] = [function({"text": text}) for text in texts]
        return L

    def sandbox() -> np.ndarray:
        return label_partition(frame, program_set, N_CLASSES, fields=["text"]).L

    times, results = interleaved({"snorkel": snorkel, "bare_loop": bare_loop, "sandbox": sandbox}, repeats)
    reference = np.asarray(results["snorkel"])
    for name in ("bare_loop", "sandbox"):
        if not np.array_equal(np.asarray(results[name]), reference):
            raise AssertionError(f"{name} gave a label matrix different from Snorkel's")
    best = {name: min(values) for name, values in times.items()}
    return {
        "n_rows": n_rows,
        "n_programs": len(sources),
        "times": times,
        "rows_per_second": {name: n_rows / seconds for name, seconds in best.items()},
        "vs_snorkel": {name: best["snorkel"] / seconds for name, seconds in best.items()},
    }


def sweep(row_counts: Sequence[int], program_counts: Sequence[int], repeats: int, seed: int) -> list[dict[str, Any]]:
    """Seconds of ``label_partition`` (sandbox on) by rows and programs: how the cost scales."""
    from alchemist_core.programs.program_set import LabelingProgram, ProgramSet

    sources = program_sources()
    texts = make_texts(max(row_counts), seed)
    results = []
    for n_programs in program_counts:
        # More programs than keywords: the same ten again under new names (each still runs).
        programs = tuple(
            LabelingProgram(f"{sources[j % len(sources)][0]}_{j}", sources[j % len(sources)][1]) for j in range(n_programs)
        )
        for n_rows in row_counts:
            rows = {"text": texts[:n_rows]}
            times, _ = interleaved({"sandbox": lambda: label_partition_rows(rows, ProgramSet(programs))}, repeats)
            results.append({"rows": n_rows, "programs": n_programs, "seconds": min(times["sandbox"])})
    return results


def label_partition_rows(rows: dict[str, list[str]], program_set: Any) -> np.ndarray:
    import pyarrow as pa

    from alchemist_core.programs.apply import label_partition

    return label_partition(pa.table(rows), program_set, N_CLASSES, fields=["text"]).L


# -- part 2: Dask, one worker against two --------------------------------------------------------
def write_shards(root: Path, n_shards: int, shard_rows: int, seed: int) -> tuple[str, list[str], str]:
    """Data shards and a stored program set under ``root``: (data root, shard paths, programs URI)."""
    import pyarrow as pa

    from alchemist_core.data.storage import open_storage
    from alchemist_core.programs.program_set import (
        LabelingProgram,
        ProgramSet,
        save_program_set,
    )

    storage = open_storage(str(root))
    shards = []
    for index in range(n_shards):
        texts = make_texts(shard_rows, seed + 1 + index)
        row_ids = [f"train:{index * shard_rows + i}" for i in range(shard_rows)]
        path = f"shards/train/shard-{index:05d}.parquet"
        storage.write_table(pa.table({"row_id": row_ids, "text": texts}), path)
        shards.append(path)
    program_set = ProgramSet(tuple(LabelingProgram(name, source) for name, source in program_sources()))
    programs_uri = save_program_set(program_set, storage, "programs")
    return storage.root, shards, programs_uri


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the sandbox workers it ran)."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def dask_scaling(n_shards: int, shard_rows: int, repeats: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Wall time of one worker against two, and the CPU time the workers and their sandboxes used.

    ``parallelism`` (CPU seconds over wall seconds) shows how much CPU the run got: at most 1.0
    with one worker, 2.0 with two on two idle cores. With the same CPU seconds per run, any
    gap between the speed-up and 2.0 is CPU time the machine gave to other jobs.
    """
    from distributed import Client

    from alchemist_core.cluster import start_local_cluster
    from alchemist_core.programs.votes import apply_shard

    # The scheduler runs in this process; its INFO chatter would bury the tables.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    data_root, shards, programs_uri = write_shards(workdir, n_shards, shard_rows, seed)
    votes_root = workdir / "votes"
    options = dict(n_classes=N_CLASSES, fields=["text"], program_seconds=30.0, memory_mb=2048)
    cpu: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    # Wall-clock seconds from the first submit to the last result: the CPU-time queries to the
    # workers before and after a run are bookkeeping of the benchmark, not work it measures.
    wall: dict[str, list[float]] = {"1 worker": [], "2 workers": []}

    # The cluster the pipeline starts when no scheduler is given (alchemist_core.cluster).
    with start_local_cluster(2, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        addresses = sorted(client.scheduler_info()["workers"])

        def run_on(n_workers: int, name: str | None) -> Callable[[], int]:
            workers = addresses[:n_workers]

            def run() -> int:
                before = sum(client.run(_cpu_seconds, workers=workers).values())
                started = time.perf_counter()
                futures = [
                    client.submit(
                        apply_shard, data_root, shard, programs_uri, str(votes_root / f"{n_workers}-{i:05d}.parquet"),
                        workers=workers, allow_other_workers=False, pure=False, **options,
                    )
                    for i, shard in enumerate(shards)
                ]
                n_rows = sum(result["n_rows"] for result in client.gather(futures))
                seconds = time.perf_counter() - started
                if name is not None:
                    wall[name].append(seconds)
                    cpu[name].append(sum(client.run(_cpu_seconds, workers=workers).values()) - before)
                return n_rows

            return run

        # Warm-up: imports and first-touch costs in both workers are not what is measured.
        run_on(2, None)()
        _, results = interleaved({"1 worker": run_on(1, "1 worker"), "2 workers": run_on(2, "2 workers")}, repeats)
    times = wall
    n_rows = n_shards * shard_rows
    if set(results.values()) != {n_rows}:
        raise AssertionError(f"expected {n_rows} rows labeled per run, got {results}")
    best = {name: min(values) for name, values in times.items()}
    fastest = {name: int(np.argmin(values)) for name, values in times.items()}
    return {
        "n_shards": n_shards,
        "shard_rows": shard_rows,
        "times": times,
        "cpu_seconds": cpu,
        "rows_per_second": {name: n_rows / best[name] for name in times},
        # CPU seconds over wall seconds of each configuration's fastest run.
        "parallelism": {name: cpu[name][fastest[name]] / best[name] for name in times},
        "speedup": best["1 worker"] / best["2 workers"],
        # The speed-up two idle cores would give if each run kept its CPU seconds (medians): a
        # projection, not a measurement.
        "projected_idle_speedup": 2 * float(np.median(cpu["1 worker"])) / float(np.median(cpu["2 workers"])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the single-worker comparison")
    parser.add_argument(
        "--shards", type=int, default=16, help="Parquet shards of the Dask comparison (16 x 50,000 = 800,000 rows)"
    )
    parser.add_argument("--shard-rows", type=int, default=50_000, help="rows per shard (the pipeline's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-single", action="store_true", help="skip the comparison with Snorkel")
    parser.add_argument("--skip-dask", action="store_true", help="skip the Dask scaling")
    parser.add_argument(
        "--sweep", action="store_true", help="also time the sandbox alone over 10k-400k rows and 1-50 programs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.shards, args.shard_rows, args.repeats = 2_000, 2, 1_000, 1
    logging.basicConfig(level=logging.WARNING)

    machine = machine_summary()
    print(f"machine: {describe_machine(machine)}")
    payload: dict[str, Any] = {"machine": machine}
    if not args.skip_single:
        one = single_worker(args.rows, args.repeats, args.seed)
        print_table(
            f"Program application, one worker: {one['n_rows']:,} rows x {one['n_programs']} programs, best of {args.repeats}",
            ["method", "rows/s", "best s", "all runs s", "vs Snorkel"],
            [
                [
                    label, one["rows_per_second"][name], min(one["times"][name]), runs(one["times"][name]),
                    f"{one['vs_snorkel'][name]:.2f}x",
                ]
                for name, label in METHODS.items()
            ],
        )
        payload["single_worker"] = one
    if args.sweep:
        row_counts = (1_000, 4_000) if args.quick else (10_000, 100_000, 400_000)
        program_counts = (1, 10) if args.quick else (1, 10, 50)
        grid = sweep(row_counts, program_counts, args.repeats, args.seed)
        seconds = {(r["rows"], r["programs"]): r["seconds"] for r in grid}
        print_table(
            f"Sandbox alone (label_partition on an Arrow table): seconds by rows and programs, best of {args.repeats}",
            ["programs", *[f"{n:,} rows" for n in row_counts], f"program-rows/s at {row_counts[-1]:,} rows"],
            [
                [p, *[seconds[n, p] for n in row_counts], p * row_counts[-1] / seconds[row_counts[-1], p]]
                for p in program_counts
            ],
        )
        payload["sweep"] = grid
    if not args.skip_dask:
        with tempfile.TemporaryDirectory(prefix="alchemist-bench-apply-", dir=args.workdir) as folder:
            scaling = dask_scaling(args.shards, args.shard_rows, args.repeats, args.seed, Path(folder))
        n_rows = scaling["n_shards"] * scaling["shard_rows"]
        print_table(
            f"Dask LocalCluster, apply_shard over {scaling['n_shards']} shards x {scaling['shard_rows']:,} rows "
            f"({n_rows:,} rows), processes, 1 thread each, best of {args.repeats}",
            ["workers", "rows/s", "best s", "all runs s", "CPU s per run", "parallelism (CPU s / wall s)", "speed-up"],
            [
                [
                    name.split()[0], scaling["rows_per_second"][name], min(scaling["times"][name]),
                    runs(scaling["times"][name]),
                    runs(scaling["cpu_seconds"][name]),
                    f"{scaling['parallelism'][name]:.2f}",
                    ratio(min(scaling["times"]["1 worker"]), min(scaling["times"][name])),
                ]
                for name in ("1 worker", "2 workers")
            ],
        )
        print(
            "\nparallelism: the CPU the run got, at most 1.00 with one worker and 2.00 with two on two idle cores; "
            "with equal CPU seconds per run, a speed-up below 2.00x is CPU time that went to other jobs"
        )
        print(
            f"projected speed-up on two idle cores (2 x median CPU s of one worker / median CPU s of two, not measured): "
            f"{scaling['projected_idle_speedup']:.2f}x"
        )
        payload["dask"] = scaling
    print(f"\nload average after the run: {[round(x, 2) for x in common.os.getloadavg()]}")
    write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
