"""The ``alchemist`` command line: run the pipeline, read programs, predict with a student."""

from __future__ import annotations

import argparse
import json
import logging
import sys
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
        "data.split_fractions": args.split_fractions,
        "data.split_seed": args.split_seed,
        "generator.kind": args.generator,
        "generator.n_programs": args.n_programs,
        "generator.library_path": args.library,
        "generator.openai.base_url": args.llm_base_url,
        "generator.openai.model": args.llm_model,
        "generator.openai.refresh": True if args.refresh else None,
        "label_model.name": args.label_model,
        "student.enabled": False if args.no_student else None,
        "student.model": args.student_model,
        "student.candidates": args.student_candidates.split(",") if args.student_candidates else None,
        "student.features": args.features,
        "student.epochs": args.epochs,
        "dask.address": args.dask_address,
        "dask.n_workers": args.n_workers,
        "storage": args.storage,
        "run_id": args.run_id,
        "seed": args.seed,
    }


def _fractions(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--split-fractions expects three numbers such as 0.72,0.08,0.2, got {text!r}") from None


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="run config YAML (see configs/); flags override it")
    parser.add_argument("--spec", help="task spec YAML, or a shipped spec name (demo, youtube, sms, trec, ...)")
    parser.add_argument("--data", help="CSV, JSONL, Parquet file or folder, WRENCH folder, or an fsspec URL; 'demo' for the built-in demo")
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet", "wrench"])
    parser.add_argument("--fields", help="comma-separated input fields (default: the spec's input_fields)")
    parser.add_argument("--label-field")
    parser.add_argument("--id-field")
    parser.add_argument("--split-field")
    parser.add_argument(
        "--split-fractions", type=_fractions,
        help="carve train,valid,test from all rows with these fractions, e.g. 0.72,0.08,0.2 (a dataset with a single "
        "split and no train split is carved so by default)",
    )
    parser.add_argument("--split-seed", type=int, help="seed of that carve (default 0)")
    parser.add_argument("--generator", choices=["offline", "library", "openai", "weak_labels"])
    parser.add_argument("--n-programs", type=int)
    parser.add_argument("--library", help="folder of program .py files (with --generator library)")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model")
    parser.add_argument("--refresh", action="store_true", help="ignore cached LLM replies")
    parser.add_argument("--label-model", choices=["auto", "majority", "weighted", "snorkel"])
    parser.add_argument("--no-student", action="store_true", help="stop at the pseudolabels")
    parser.add_argument(
        "--student-model", choices=["auto", "logreg", "mlp", "finetune"],
        help="auto (default) chooses on the valid split; finetune fine-tunes the sentence encoder (GPU-sized work)",
    )
    parser.add_argument(
        "--student-candidates",
        help="with auto: comma-separated model/features/rows names to choose among, e.g. logreg/tfidf/covered,mlp/minilm/all",
    )
    parser.add_argument("--features", choices=["minilm", "tfidf"], help="features of a fixed logreg or mlp student")
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


def _image_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "spec": args.spec,
        "data.source": args.data,
        "data.image_field": args.image_field,
        "data.label_field": args.label_field,
        "data.id_field": args.id_field,
        "data.split_field": args.split_field,
        "data.group_field": args.group_field,
        "data.store": args.store,
        "concepts.path": args.concepts,
        "concepts.n_concepts": args.n_concepts,
        "concepts.subject": args.subject,
        "clip.model": args.clip_model,
        "clip.pretrained": args.clip_pretrained,
        "clip.cache_dir": args.clip_cache_dir,
        "clip.device": args.device,
        "generator.kind": args.generator,
        "generator.n_programs": args.n_programs,
        "generator.library_path": args.library,
        "llm.base_url": args.llm_base_url,
        "llm.model": args.llm_model,
        "llm.refresh": True if args.refresh else None,
        "label_model.name": args.label_model,
        "student.enabled": False if args.no_student else None,
        "student.model": args.student_model,
        "student.epochs": args.epochs,
        "dask.address": args.dask_address,
        "dask.n_workers": args.n_workers,
        "storage": args.storage,
        "run_id": args.run_id,
        "seed": args.seed,
    }


def _cmd_run_images(args: argparse.Namespace) -> int:
    from alchemist_core.image_pipeline import load_image_config
    from flows.environment import apply_offline_defaults

    config = load_image_config(args.config, _image_overrides(args))
    apply_offline_defaults(config.storage)
    from flows.label_images import label_images

    summary = label_images(config)
    print(f"\nimage run {summary['run_id']} finished; report: {summary['report']}")
    for name, value in sorted(summary.get("metrics", {}).items()):
        print(f"  {name}: {value}")
    return 0


def _add_image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="image run config YAML (kind: images); flags override it")
    parser.add_argument("--spec", help="task spec YAML or shipped spec name (default: shapes, the image demo)")
    parser.add_argument("--data", help="a folder of images (root/<class>/*), or CSV/JSONL/Parquet with bytes, paths or URLs; 'demo' for the built-in demo")
    parser.add_argument("--image-field")
    parser.add_argument("--label-field")
    parser.add_argument("--id-field")
    parser.add_argument("--split-field")
    parser.add_argument("--group-field", help="group attribute for per-group and worst-group accuracy (e.g. place)")
    parser.add_argument("--store", choices=["bytes", "uri"], help="keep image bytes in the shards, or only their URIs")
    parser.add_argument("--concepts", help="a concept file (YAML/JSON); the LLM names concepts when absent")
    parser.add_argument("--n-concepts", type=int)
    parser.add_argument("--subject", help="what the images show, e.g. 'bird'")
    parser.add_argument("--clip-model", help="open_clip architecture, e.g. ViT-B-32 (default: alchemist-tiny, random weights)")
    parser.add_argument("--clip-pretrained", help="pretrained tag in the local cache (e.g. openai) or a checkpoint file")
    parser.add_argument("--clip-cache-dir")
    parser.add_argument("--device", help="cuda or cpu (default: a GPU when present)")
    parser.add_argument("--generator", choices=["offline", "openai", "library"])
    parser.add_argument("--n-programs", type=int)
    parser.add_argument("--library")
    parser.add_argument("--llm-base-url")
    parser.add_argument("--llm-model")
    parser.add_argument("--refresh", action="store_true")
    parser.add_argument("--label-model", choices=["auto", "majority", "weighted", "snorkel"])
    parser.add_argument("--no-student", action="store_true")
    parser.add_argument("--student-model", choices=["mlp", "logreg"])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--dask-address")
    parser.add_argument("--n-workers", type=int)
    parser.add_argument("--storage")
    parser.add_argument("--run-id")
    parser.add_argument("--seed", type=int)


def _cmd_generate(args: argparse.Namespace) -> int:
    from alchemist_core.config import load_config
    from flows.environment import apply_offline_defaults

    config = load_config(args.config, _run_overrides(args))
    apply_offline_defaults(config.storage)
    from flows.generate_programs import generate_programs

    summary = generate_programs(config)
    print(f"\nprograms of run {summary['run_id']}: {summary['programs']}\nreview: {summary['report']}")
    return 0


def _cmd_relabel(args: argparse.Namespace) -> int:
    from alchemist_core.relabel import load_relabel_config
    from flows.environment import apply_offline_defaults

    config = load_relabel_config(
        args.config,
        {
            "source_run": args.source_run,
            "data.source": args.data,
            "data.format": args.format,
            "data.label_field": args.label_field,
            "data.id_field": args.id_field,
            "data.split_field": args.split_field,
            "student": False if args.no_student else None,
            "sandbox.program_seconds": args.program_seconds,
            "dask.address": args.dask_address,
            "dask.n_workers": args.n_workers,
            "storage": args.storage,
            "run_id": args.run_id,
            "seed": args.seed,
        },
    )
    apply_offline_defaults(config.storage)
    from flows.relabel import relabel

    summary = relabel(config)
    print(f"\nrelabel run {summary['run_id']} finished: {summary['run_root']}\nreport: {summary['report']}")
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


def _cmd_prompt(args: argparse.Namespace) -> int:
    from alchemist_core.prompts import code_messages, supplement_from_spec, supplement_messages
    from alchemist_core.spec import load_spec

    spec = load_spec(args.spec)
    if args.kind == "none":
        stages = [("code prompt (one-stage)", code_messages(spec, variant=args.variant))]
    else:
        given = supplement_from_spec(spec, args.kind)
        if given is not None:
            stages = [(f"code prompt with the spec's {args.kind}", code_messages(spec, supplement=given, supplement_kind=args.kind, variant=args.variant))]
        else:
            placeholder = f"<the reply to the stage-one call: {args.kind}>"
            stages = [
                (f"stage one: ask for {args.kind}", supplement_messages(spec, args.kind)),
                ("stage two: code prompt", code_messages(spec, supplement=placeholder, supplement_kind=args.kind, variant=args.variant)),
            ]
    if args.json:
        print(json.dumps({title: messages for title, messages in stages}, indent=2, ensure_ascii=False))
        return 0
    for title, messages in stages:
        print(f"===== {title} =====")
        for message in messages:
            print(f"--- {message['role']} ---")
            print(message["content"])
        print()
    return 0


def _cmd_annotate(args: argparse.Namespace) -> int:
    from alchemist_core.baseline import annotate_baseline, comparison_markdown, ledger_totals, program_label_quality
    from alchemist_core.config import RunConfig
    from alchemist_core.generate import build_llm_client
    from alchemist_core.ingest import load_dataset_manifest
    from alchemist_core.llm import Ledger
    from alchemist_core.spec import TaskSpec
    from alchemist_core.storage import open_storage

    run = open_storage(args.run)
    if not run.exists("manifest.json"):
        raise AlchemistError(f"expected a finished run (with manifest.json) at {args.run}; run `alchemist run` first")
    config = RunConfig.model_validate(run.read_json("config.json"))
    overrides = {k: v for k, v in {"base_url": args.llm_base_url, "model": args.llm_model}.items() if v}
    if args.refresh:
        overrides["refresh"] = True
    config = config.model_copy(update={"generator": config.generator.model_copy(update={"openai": config.generator.openai.model_copy(update=overrides)})})
    settings = config.model_dump(mode="json")
    spec = TaskSpec.model_validate(run.read_json("spec.json"))
    root = open_storage(config.storage)
    data = root.child("datasets", run.read_json("manifest.json")["dataset"]["digest"])
    manifest = load_dataset_manifest(data)
    client = build_llm_client(settings["generator"]["openai"], cache=root.child("cache"), ledger_storage=run)
    summary = annotate_baseline(
        run=run, data=data, manifest=manifest, spec=spec, client=client, settings=settings, cache=root.child("cache"),
        budget_usd=args.budget, dry_run=args.dry_run, batch_size=args.batch_size,
    )
    estimate = summary["estimate"]
    print(
        f"estimate: {estimate['n_calls']:,} calls, ~{estimate['prompt_tokens'] + estimate['completion_tokens']:,} tokens, "
        f"${estimate['dollars']:,.4f} with {estimate['model']} for {summary['n_rows']:,} rows ({estimate['method']})"
    )
    if args.dry_run:
        return 0
    entries = Ledger(run).entries()
    summary.update(ledger_totals(entries, purposes={"annotate"}))
    programs = ledger_totals(entries, exclude={"annotate"})
    programs["label_quality"] = program_label_quality(run, data, config.data.train_split, spec.n_classes)
    metrics = run.read_json("metrics.json")
    programs["student_test_accuracy"] = metrics.get(f"student.{config.data.test_split}.accuracy")
    programs["student_test_macro_f1"] = metrics.get(f"student.{config.data.test_split}.macro_f1")
    section = comparison_markdown(programs, summary)
    run.write_text(section, "annotation", "comparison.md")
    report = run.read_text("report.md")
    marker = "## Programs vs. direct LLM labeling"
    if marker in report:
        report = report[: report.index(marker)].rstrip("\n") + "\n"
    run.write_text(report.rstrip("\n") + "\n\n" + section, "report.md")
    print(section)
    if summary.get("budget_exhausted"):
        print(f"alchemist: the budget cap of ${args.budget} was reached; {summary['n_unannotated']} rows were not sent", file=sys.stderr)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from alchemist_core.cache_admin import cache_usage, prune_cache
    from alchemist_core.storage import open_storage

    root = open_storage(args.storage)

    def when(seconds: float | None) -> str:
        return "-" if seconds is None else datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")

    if args.action == "usage":
        print(f"{'area':<11} {'files':>9} {'size':>12}  {'oldest (UTC)':<17} {'newest (UTC)':<17} folder")
        for area in cache_usage(root):
            print(f"{area.area:<11} {area.n_files:>9,} {_size(area.n_bytes):>12}  {when(area.oldest):<17} {when(area.newest):<17} {area.uri}")
        return 0
    areas = args.areas.split(",") if args.areas else None
    report = prune_cache(root, args.older_than, areas=areas, dry_run=args.dry_run)
    verb = "would remove" if report.dry_run else "removed"
    print(f"files last written before {when(report.cutoff)} UTC under {report.root}")
    print(f"{'area':<11} {'files':>9} {verb:>13} {'size':>12} {'kept':>9}")
    for area in report.areas:
        print(f"{area.area:<11} {area.n_files:>9,} {area.n_removed:>13,} {_size(area.bytes_removed):>12} {area.n_kept:>9,}")
        if area.n_undated:
            print(f"  {area.n_undated:,} files of {area.area} kept: the store gave no modification time")
    print(f"{verb} {report.n_removed:,} files, {_size(report.bytes_removed)}")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    return 0


def _size(n_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:,.1f} TiB"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alchemist", description="LLM-written labeling programs, weak supervision, distillation.")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the whole pipeline (the label-dataset flow)")
    _add_run_arguments(run)
    run.set_defaults(handler=_cmd_run)

    generate = commands.add_parser("generate", help="only generate, validate and store programs, for review before labeling")
    _add_run_arguments(generate)
    generate.set_defaults(handler=_cmd_generate)

    relabel = commands.add_parser("relabel", help="apply a stored run's programs, label model and student to new data")
    relabel.add_argument("--config", help="relabel config YAML (see deployments/relabel.yaml); flags override it")
    relabel.add_argument("--source-run", help="the run folder whose programs, label model and student are reused")
    relabel.add_argument("--data", help="the new data: CSV, JSONL, Parquet, WRENCH folder or fsspec URL")
    relabel.add_argument("--format", choices=["csv", "jsonl", "parquet", "wrench"])
    relabel.add_argument("--label-field")
    relabel.add_argument("--id-field")
    relabel.add_argument("--split-field")
    relabel.add_argument("--no-student", action="store_true", help="stop at the pseudolabels")
    relabel.add_argument("--program-seconds", type=float)
    relabel.add_argument("--dask-address")
    relabel.add_argument("--n-workers", type=int)
    relabel.add_argument("--storage")
    relabel.add_argument("--run-id")
    relabel.add_argument("--seed", type=int)
    relabel.set_defaults(handler=_cmd_relabel)

    images = commands.add_parser("run-images", help="the multimodal pipeline: concepts, CLIP scores, concept programs")
    _add_image_arguments(images)
    images.set_defaults(handler=_cmd_run_images)

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

    prompt = commands.add_parser("prompt", help="print the exact messages that would be sent to the LLM")
    prompt.add_argument("--spec", required=True)
    prompt.add_argument("--kind", default="none", choices=["none", "description", "exemplars", "keywords", "rules"],
                        help="supplementary information: none = one-stage")
    prompt.add_argument("--variant", type=int, default=0)
    prompt.add_argument("--json", action="store_true", help="print the messages as JSON")
    prompt.set_defaults(handler=_cmd_prompt)

    annotate = commands.add_parser("annotate", help="the paper's baseline: the LLM labels every training row directly")
    annotate.add_argument("--run", required=True, help="a finished run folder; its dataset, spec and student settings are reused")
    annotate.add_argument("--budget", type=float, required=True, help="hard cap in dollars; no call is made past it")
    annotate.add_argument("--dry-run", action="store_true", help="only print the cost estimate")
    annotate.add_argument("--batch-size", type=int, default=20, help="rows per call")
    annotate.add_argument("--llm-base-url")
    annotate.add_argument("--llm-model")
    annotate.add_argument("--refresh", action="store_true", help="ignore cached replies")
    annotate.set_defaults(handler=_cmd_annotate)

    cache = commands.add_parser("cache", help="what the caches under a storage root hold; prune old entries")
    cache_actions = cache.add_subparsers(dest="action", required=True)
    usage = cache_actions.add_parser("usage", help="files, size and age of each cache area")
    usage.add_argument("--storage", default="./alchemist-runs", help="artifact root: a folder or s3://bucket/prefix")
    prune = cache_actions.add_parser(
        "prune", help="remove cache files last written longer ago than --older-than (never runs/ or datasets/)"
    )
    prune.add_argument("--storage", default="./alchemist-runs", help="artifact root: a folder or s3://bucket/prefix")
    prune.add_argument("--older-than", default="30d", help="age such as 30d, 12h, 90m; 0 removes everything (default 30d)")
    prune.add_argument(
        "--areas",
        help="comma-separated among votes, embeddings, clip, results, llm (default: all but llm; "
        "pruned LLM replies cost money to ask again and may come back different)",
    )
    prune.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    prune.add_argument("--json", action="store_true", help="also print the report as JSON")
    cache.set_defaults(handler=_cmd_cache)
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
