"""The ``alchemist`` command line: run the pipeline, read programs, predict with a student."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from alchemist_core.errors import AlchemistError


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "spec": args.spec,
        "data.source": args.data,
        "data.format": args.format,
        "data.fields": args.fields.split(",") if args.fields else None,
        "data.label_field": args.label_field,
        "data.id_field": args.id_field,
        "data.split_field": args.split_field,
        "generator.kind": args.generator,
        "generator.n_programs": args.n_programs,
        "generator.library_path": args.library,
        "generator.openai.base_url": args.llm_base_url,
        "generator.openai.model": args.llm_model,
        "generator.openai.refresh": True if args.refresh else None,
        "label_model.name": args.label_model,
        "student.enabled": False if args.no_student else None,
        "student.model": args.student_model,
        "student.features": args.features,
        "student.epochs": args.epochs,
        "dask.address": args.dask_address,
        "dask.n_workers": args.n_workers,
        "storage": args.storage,
        "run_id": args.run_id,
        "seed": args.seed,
    }


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="run config YAML (see configs/); flags override it")
    parser.add_argument("--spec", help="task spec YAML, or a shipped spec name (demo, youtube, sms, trec, ...)")
    parser.add_argument("--data", help="CSV, JSONL, Parquet file or folder, WRENCH folder, or an fsspec URL; 'demo' for the built-in demo")
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet", "wrench"])
    parser.add_argument("--fields", help="comma-separated input fields (default: the spec's input_fields)")
    parser.add_argument("--label-field")
    parser.add_argument("--id-field")
    parser.add_argument("--split-field")
    parser.add_argument("--generator", choices=["offline", "library", "openai", "weak_labels"])
    parser.add_argument("--n-programs", type=int)
    parser.add_argument("--library", help="folder of program .py files (with --generator library)")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model")
    parser.add_argument("--refresh", action="store_true", help="ignore cached LLM replies")
    parser.add_argument("--label-model", choices=["auto", "majority", "weighted", "snorkel"])
    parser.add_argument("--no-student", action="store_true", help="stop at the pseudolabels")
    parser.add_argument("--student-model", choices=["mlp", "logreg"])
    parser.add_argument("--features", choices=["minilm", "tfidf"])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--dask-address", help="tcp://host:port of a Dask scheduler, or 'synchronous'")
    parser.add_argument("--n-workers", type=int, help="workers of the LocalCluster started when no address is given")
    parser.add_argument("--storage", help="artifact root: a folder or s3://bucket/prefix (default ./alchemist-runs)")
    parser.add_argument("--run-id")
    parser.add_argument("--seed", type=int)


def _cmd_run(args: argparse.Namespace) -> int:
    from alchemist_core.config import load_config
    from flows.environment import apply_offline_defaults

    config = load_config(args.config, _run_overrides(args))
    apply_offline_defaults(config.storage)
    from flows.label_dataset import label_dataset

    summary = label_dataset(config)
    print(f"\nrun {summary['run_id']} finished; report: {summary['report']}")
    for name, value in sorted(summary.get("metrics", {}).items()):
        print(f"  {name}: {value}")
    return 0


def _run_storage(run: str):
    from alchemist_core.storage import open_storage

    storage = open_storage(run)
    if not storage.exists("programs", "manifest.json"):
        raise AlchemistError(f"expected a run folder with programs/manifest.json at {run}; give --run <storage>/runs/<run-id>")
    return storage


def _cmd_programs(args: argparse.Namespace) -> int:
    from alchemist_core.programs import load_program_set

    run = _run_storage(args.run)
    program_set = load_program_set(run, "programs")
    if args.action == "list":
        faults = run.read_json("votes", "faults.json") if run.exists("votes", "faults.json") else {}
        print(f"{'name':<40} {'origin':<10} {'digest':<12}  description")
        for program in program_set:
            origin = program.origin.get("generator", "?")
            flag = "  [quarantined]" if (faults.get(program.name) or {}).get("quarantined") else ""
            print(f"{program.name:<40} {origin:<10} {program.digest[:12]}  {program.describe()}{flag}")
        return 0
    program = program_set[args.name]
    print(f"# {program.name}  digest {program.digest}")
    print(f"# origin: {json.dumps(dict(program.origin), sort_keys=True)}")
    print(program.source)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from alchemist_core.storage import open_storage
    from alchemist_core.training import predict_file

    run = open_storage(args.run)
    out = predict_file(run, args.data, args.out, fields=args.fields.split(",") if args.fields else None, format=args.format)
    print(f"predictions written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alchemist", description="LLM-written labeling programs, weak supervision, distillation.")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the whole pipeline (the label-dataset flow)")
    _add_run_arguments(run)
    run.set_defaults(handler=_cmd_run)

    programs = commands.add_parser("programs", help="read the programs of a run")
    programs_actions = programs.add_subparsers(dest="action", required=True)
    listing = programs_actions.add_parser("list", help="one line per program")
    listing.add_argument("--run", required=True, help="the run folder (<storage>/runs/<run-id>)")
    show = programs_actions.add_parser("show", help="a program's source and origin")
    show.add_argument("name")
    show.add_argument("--run", required=True)
    programs.set_defaults(handler=_cmd_programs)

    predict = commands.add_parser("predict", help="label new data with a run's student")
    predict.add_argument("--run", required=True)
    predict.add_argument("--data", required=True, help="CSV, JSONL or Parquet with the spec's input fields")
    predict.add_argument("--out", required=True, help="output Parquet or CSV path")
    predict.add_argument("--fields")
    predict.add_argument("--format", choices=["csv", "jsonl", "parquet"])
    predict.set_defaults(handler=_cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except AlchemistError as error:
        print(f"alchemist: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alchemist: interrupted; finished stages are cached, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
