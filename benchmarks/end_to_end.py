"""End to end: a generated 1M-row ticket dataset, 10 programs, from ingest to pseudolabels.

The ``label-dataset`` Prefect flow runs exactly as ``alchemist run`` runs it (ephemeral
Prefect API, a Dask ``LocalCluster`` of two worker processes), on the demo ticket data of
:func:`alchemist_core.data.demo.make_demo_dataset` at ``--rows`` rows, with a library of 10 keyword
and regex programs (written by this script), the student off:

1. **first run**: ingest (CSV to Parquet shards), program set, sandboxed application on Dask,
   curation, label model (chosen on the valid split), pseudolabels, evaluation, report;
2. **rerun**: the same config again; everything cached must be served from the cache;
3. **distillation**, reported apart: the same config with the student on (TF-IDF features and
   logistic regression by default, ``--student-features minilm`` for sentence embeddings). A
   run folder holds one configuration, so this is a run of its own: its programs' votes come
   from the vote cache, the stages after them run again, and the ``distill-student`` task's
   own time is reported beside the run's.

Making the CSV and starting the Prefect API are timed apart: neither is the pipeline's work.

Usage::

    python benchmarks/end_to_end.py [--rows 1000000] [--workers 2] [--shard-rows 50000]
                                    [--no-student] [--quick] [--json out.json]
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import common  # noqa: I001  (sets thread variables before numpy loads)
from common import describe_machine, machine_summary, print_table, timed, write_json

TARGET_SECONDS = 300.0
RERUN_TARGET = 0.10

# Ten programs for the four demo classes (billing 0, technical 1, shipping 2, account 3): keyword
# lists, regexes, a negation guard and one multi-class cue counter, as a generator would write them.
PROGRAMS = {
    "billing_money": '''"""Billing when the ticket talks about charges, invoices or refunds."""
import re

WORDS = re.compile(r"\\b(charged?|invoices?|refund\\w*|bill(ed)?|payments?|fees?|price|statement|subscription)\\b", re.I)


def label(x):
    return 0 if WORDS.search(x["text"] or "") else -1
''',
    "billing_amount": '''"""Billing when the ticket quotes a dollar amount."""
import re

AMOUNT = re.compile(r"\\$\\d+")


def label(x):
    return 0 if AMOUNT.search(x["text"] or "") else -1
''',
    "billing_not_negated": '''"""Billing on money words, unless the ticket says it is not about billing."""
NEGATIONS = ("not a billing", "not charged", "no refund")
CUES = ("refund", "charge", "money", "paid", "amount")


def label(x):
    text = (x["text"] or "").lower()
    if any(n in text for n in NEGATIONS):
        return -1
    return 0 if any(c in text for c in CUES) else -1
''',
    "technical_errors": '''"""Technical when something crashes, freezes or shows an error."""
import re

WORDS = re.compile(r"\\b(crash\\w*|error|bug|freez\\w*|timeout|blank screen|slow|outage|won't load)\\b", re.I)


def label(x):
    return 1 if WORDS.search(x["text"] or "") else -1
''',
    "technical_product": '''"""Technical when the ticket names a software product."""
PRODUCTS = ("app", "website", "dashboard", "desktop client", "export tool", "search page", "api", "sync feature")


def label(x):
    text = (x["text"] or "").lower()
    return 1 if any(p in text for p in PRODUCTS) else -1
''',
    "shipping_words": '''"""Shipping when the ticket is about a parcel or its delivery."""
import re

WORDS = re.compile(r"\\b(package|parcel|deliver\\w*|shipment|ship\\w*|courier|tracking|transit|arrived)\\b", re.I)


def label(x):
    return 2 if WORDS.search(x["text"] or "") else -1
''',
    "shipping_order_number": '''"""Shipping when the ticket quotes an order number."""
import re

ORDER = re.compile(r"order #\\d{6}", re.I)


def label(x):
    return 2 if ORDER.search(x["text"] or "") else -1
''',
    "account_sign_in": '''"""Account when the ticket is about signing in or credentials."""
import re

WORDS = re.compile(r"\\b(password|username|log ?in|logged|sign(ed)? ?in|two-factor|locked out)\\b", re.I)


def label(x):
    text = x["text"] or ""
    if "password is fine" in text.lower():
        return -1
    return 3 if WORDS.search(text) else -1
''',
    "account_profile": '''"""Account when the ticket is about profile details or closing the account."""
CUES = ("email address", "profile", "my details", "my info", "delete my account", "security question", "account")


def label(x):
    text = (x["text"] or "").lower()
    return 3 if any(c in text for c in CUES) else -1
''',
    "cue_counter": '''"""The class whose cue words appear most often; abstains on a tie or no cue at all."""
import re

CUES = (
    re.compile(r"charge|refund|invoice|bill|fee|price|paid|money", re.I),
    re.compile(r"crash|error|bug|freez|slow|load|broke|stuck", re.I),
    re.compile(r"deliver|package|parcel|ship|order|courier|arriv", re.I),
    re.compile(r"password|log ?in|sign|account|profile|email|locked", re.I),
)


def label(x):
    text = x["text"] or ""
    counts = [len(cue.findall(text)) for cue in CUES]
    best = max(counts)
    if best == 0 or counts.count(best) > 1:
        return -1
    return counts.index(best)
''',
}


def write_programs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in PROGRAMS.items():
        (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return folder


def run_config(csv: Path, programs: Path, storage: Path, args: Any, *, student: bool) -> Any:
    from alchemist_core.config import load_config

    return load_config(
        overrides={
            "spec": "demo",
            "data.source": str(csv),
            "data.split_field": "split",
            "data.id_field": "id",
            "data.shard_rows": args.shard_rows,
            "generator.kind": "library",
            "generator.library_path": str(programs),
            "student.enabled": student,
            "student.features": args.student_features,
            "student.model": args.student_model,
            "dask.n_workers": args.workers,
            "storage": str(storage),
            # The first run and its rerun share a folder; the student run has its own.
            "run_id": "end-to-end-student" if student else "end-to-end",
            "seed": 0,
        }
    )


def task_seconds(flow_run_id: Any) -> dict[str, dict[str, Any]]:
    """Per task name: wall-clock span from the first start to the last end, and the runs' states.

    A span, not a sum: the apply tasks run concurrently, each waiting on the Dask cluster.
    """
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    spans: dict[str, list[Any]] = {}
    summary: dict[str, dict[str, Any]] = {}
    for task_run in asyncio.run(read()):
        name = task_run.name.rsplit("-", 1)[0]
        entry = summary.setdefault(name, {"seconds": 0.0, "states": {}})
        state = task_run.state.name if task_run.state else "unknown"
        entry["states"][state] = entry["states"].get(state, 0) + 1
        if task_run.start_time and task_run.end_time:
            span = spans.setdefault(name, [task_run.start_time, task_run.end_time])
            span[0], span[1] = min(span[0], task_run.start_time), max(span[1], task_run.end_time)
            entry["seconds"] = (span[1] - span[0]).total_seconds()
    return summary


def run_flow(config: Any) -> tuple[float, dict[str, Any], dict[str, dict[str, Any]]]:
    from flows.label_dataset import label_dataset

    seconds, state = timed(lambda: label_dataset(config, return_state=True))
    summary = state.result()
    return seconds, summary, task_seconds(state.state_details.flow_run_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes of the LocalCluster")
    parser.add_argument("--shard-rows", type=int, default=50_000)
    parser.add_argument("--no-student", action="store_true", help="skip the distillation run")
    parser.add_argument("--student-features", default="tfidf", choices=["tfidf", "minilm"])
    parser.add_argument("--student-model", default="logreg", choices=["logreg", "mlp"])
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.shard_rows = 3_000, 1_000

    with tempfile.TemporaryDirectory(prefix="alchemist-bench-e2e-", dir=args.workdir) as folder:
        work = Path(folder)
        # Prefect's home (its database) and results stay in the work folder, not in ~/.prefect.
        os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
        from flows.environment import apply_offline_defaults

        apply_offline_defaults(str(work / "runs"))
        logging.basicConfig(level=logging.WARNING)
        import distributed  # noqa: F401  (configures its loggers on import: quieten them after)

        for noisy in ("prefect", "distributed", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

        machine = machine_summary()
        print(f"machine: {describe_machine(machine)}")
        from alchemist_core.data.demo import make_demo_dataset

        make_seconds, csv = timed(lambda: make_demo_dataset(work / "tickets.csv", n_rows=args.rows, seed=0))
        csv_mib = csv.stat().st_size / 2**20
        programs = write_programs(work / "programs")

        from prefect import flow

        @flow(name="warm-up")
        def warm_up() -> int:
            return 1

        api_seconds, _ = timed(warm_up)

        config = run_config(csv, programs, work / "runs", args, student=False)
        first_seconds, first, first_tasks = run_flow(config)
        rerun_seconds, second, rerun_tasks = run_flow(config)
        if second["metrics"] != first["metrics"]:
            raise AssertionError("the rerun's metrics differ from the first run's")
        student_seconds = student_tasks = None
        if not args.no_student:
            student_seconds, _, student_tasks = run_flow(run_config(csv, programs, work / "runs", args, student=True))
        metrics = first["metrics"]

    first_ok = "yes" if first_seconds < TARGET_SECONDS else "NO"
    rerun_ok = "yes" if rerun_seconds < RERUN_TARGET * first_seconds else "NO"
    rows = [
        ["make the CSV (not pipeline work)", f"{make_seconds:.1f}", "-", f"{csv_mib:,.1f} MiB"],
        ["start the Prefect API (not pipeline work)", f"{api_seconds:.1f}", "-", "ephemeral server"],
        ["first run: ingest to pseudolabels", f"{first_seconds:.1f}", first_ok, f"target < {TARGET_SECONDS:.0f} s"],
        [
            "unchanged rerun", f"{rerun_seconds:.1f}", rerun_ok,
            f"{rerun_seconds / first_seconds:.1%} of the first run; target < {RERUN_TARGET:.0%}",
        ],
    ]
    if student_seconds is not None:
        distill = student_tasks.get("distill-student", {}).get("seconds", float("nan"))
        rows.append([
            f"distillation ({args.student_features} + {args.student_model})", f"{student_seconds:.1f}", "-",
            f"distill-student task {distill:.1f} s; votes from the vote cache",
        ])
    print_table(
        f"End to end: {args.rows:,} generated tickets, {len(PROGRAMS)} programs, {args.workers} Dask workers, "
        f"shards of {args.shard_rows:,} rows",
        ["stage", "seconds", "within target", "notes"],
        rows,
    )
    print_table(
        "Tasks of the first run and the rerun (wall-clock seconds from the first start to the last end; states)",
        ["task", "first run s", "first run states", "rerun s", "rerun states"],
        [
            [
                name, f"{first_tasks[name]['seconds']:.1f}", _states(first_tasks[name]),
                f"{rerun_tasks.get(name, {}).get('seconds', 0.0):.1f}", _states(rerun_tasks.get(name, {})),
            ]
            for name in first_tasks
        ],
    )
    keys = sorted(k for k in metrics if k.startswith(("label_model.", "programs.")) and isinstance(metrics[k], (int, float)))
    print("\nmetrics of the run: " + ", ".join(f"{k} {metrics[k]:.4g}" for k in keys[:8]))
    print(f"load average after the run: {[round(x, 2) for x in os.getloadavg()]}")
    write_json(
        args.json,
        {
            "machine": machine,
            "rows": args.rows,
            "make_csv_seconds": make_seconds,
            "prefect_api_seconds": api_seconds,
            "first_seconds": first_seconds,
            "rerun_seconds": rerun_seconds,
            "student_seconds": student_seconds,
            "first_tasks": first_tasks,
            "rerun_tasks": rerun_tasks,
            "student_tasks": student_tasks,
            "metrics": json.loads(json.dumps(metrics, default=str)),
        },
    )
    return 0


def _states(entry: dict[str, Any]) -> str:
    return ", ".join(f"{state} x{count}" for state, count in sorted(entry.get("states", {}).items())) or "-"


if __name__ == "__main__":
    raise SystemExit(main())
