"""The ``alchemist`` command line: run the pipeline, read programs, predict with a student.

The flags of ``run``, ``generate``, ``run-images``, ``relabel`` and ``annotate`` that set a
config key are declared once, in :data:`CONFIG_FLAGS`: each names its dotted key, and its
type, choices, help and shown default come from that field of the config model. Every other
leaf key of a model is listed in the command's ``file_only`` set (settable in a config file
only), so a key and its flag cannot drift apart (``tests/core/test_cli_flags.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from alchemist_core.config import RunConfig
from alchemist_core.errors import AlchemistError
from alchemist_core.images.pipeline import ImageRunConfig
from alchemist_core.relabel import RelabelConfig


@dataclass(frozen=True)
class ConfigFlag:
    """A command-line flag that sets one key of a config model.

    ``key`` is the dotted config key (``data.label_field``); the flag's type, choices and help
    come from that field, ``help`` replacing the field's description where the command line
    needs other words. A boolean key takes a switch: the flag, when given, sets ``switch``.
    """

    flag: str
    key: str
    help: str | None = None
    switch: bool | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class ConfigFlags:
    """The flags of one command that set keys of its config ``model``.

    ``file_only`` lists the leaf keys of ``model`` that no flag sets: a config file sets them.
    ``amends_stored`` marks flags that change a stored run's config rather than build a new
    one; they need not cover the model, and its defaults are not the values they replace.
    """

    model: type[BaseModel]
    flags: tuple[ConfigFlag, ...]
    file_only: frozenset[str] = frozenset()
    amends_stored: bool = False


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


def _section(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds when it is a section of the config, else ``None``."""
    inner = _without_none(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def config_field(model: type[BaseModel], key: str) -> tuple[FieldInfo, bool]:
    """The leaf field the dotted ``key`` names in ``model``, and whether its default applies.

    A default does not apply under a section that defaults to empty (``RelabelConfig.sandbox``:
    the source run's limits). Raises ``KeyError`` naming the key when ``model`` has no such leaf.
    """
    *sections, name = key.split(".")
    applies = True
    for section in sections:
        field = model.model_fields.get(section)
        inner = _section(field.annotation) if field is not None else None
        if inner is None:
            raise KeyError(f"{model.__name__} has no section {section!r} (config key {key!r})")
        applies = applies and field.get_default(call_default_factory=True) is not None
        model = inner
    field = model.model_fields.get(name)
    if field is None or _section(field.annotation) is not None:
        raise KeyError(f"{model.__name__} has no field {name!r} (config key {key!r})")
    return field, applies


def _comma_separated(item: type) -> Callable[[str], list[Any] | None]:
    def parse(text: str) -> list[Any] | None:
        if not text:
            return None
        try:
            return [item(part) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {item.__name__} values, got {text!r}") from None

    return parse


def _argument_kind(spec: ConfigFlag, field: FieldInfo) -> dict[str, Any]:
    """``add_argument`` keywords for the field's type: a switch, choices, a converter."""
    annotation = _without_none(field.annotation)
    if annotation is bool:
        if spec.switch is None:
            raise TypeError(f"{spec.flag} sets the boolean {spec.key}: give it a switch value")
        return {"action": "store_true"}
    if spec.switch is not None:
        raise TypeError(f"{spec.flag} is a switch, but {spec.key} is {annotation}, not a boolean")
    if get_origin(annotation) is Literal:
        return {"choices": list(get_args(annotation))}
    if get_origin(annotation) is list and get_args(annotation)[0] in (str, int, float):
        return {"type": _comma_separated(get_args(annotation)[0])}
    if annotation in (int, float):
        return {"type": annotation}
    if annotation is str:
        return {}
    raise TypeError(f"{spec.flag}: no command-line form for {spec.key} of type {field.annotation}")


def _shown(value: Any) -> str:
    return ",".join(str(item) for item in value) if isinstance(value, list) else str(value)


def _help(spec: ConfigFlag, field: FieldInfo, default_applies: bool) -> str:
    text = spec.help
    if text is None and field.description:
        text = field.description
        if not text[1:2].isupper():
            text = text[0].lower() + text[1:]
    notes = [f"config: {spec.key}"]
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    if default_applies and default is not None and spec.switch is None:
        notes.append(f"default: {_shown(default)}")
    return (f"{text} ({', '.join(notes)})" if text else f"({', '.join(notes)})").replace("%", "%%")


def add_config_flags(parser: argparse.ArgumentParser, flags: ConfigFlags) -> None:
    """Add ``flags`` to ``parser``, typed and described by the fields of ``flags.model``.

    A flag not given leaves its key unset (see :func:`config_overrides`), so a config file's value stands.
    """
    for spec in flags.flags:
        field, default_applies = config_field(flags.model, spec.key)
        parser.add_argument(
            spec.flag, dest=spec.dest, help=_help(spec, field, default_applies and not flags.amends_stored),
            **_argument_kind(spec, field),
        )


def config_overrides(args: argparse.Namespace, flags: ConfigFlags) -> dict[str, Any]:
    """The dotted overrides the given flags make; ``None`` for a flag not given (the config's value stands)."""
    overrides = {}
    for spec in flags.flags:
        value = getattr(args, spec.dest)
        overrides[spec.key] = (spec.switch if value else None) if spec.switch is not None else value
    return overrides


def _file_only_epilog(flags: ConfigFlags) -> str:
    return (
        "Flags override the --config file; each flag's help names the config key it sets. Keys set in the "
        f"config file only: {', '.join(sorted(flags.file_only))}."
    )


RUN_FILE_ONLY = frozenset(
    {
        # how ingested data is sharded, and the names of its splits
        "data.shard_rows",
        "data.train_split",
        "data.valid_split",
        "data.test_split",
        "generator.sample_rows",
        # the LLM endpoint's tuning; the API key is read from the variable api_key_env names
        "generator.openai.supplement_model",
        "generator.openai.api_key_env",
        "generator.openai.supplement_kinds",
        "generator.openai.max_repairs",
        "generator.openai.timeout",
        "generator.openai.max_retries",
        "generator.openai.max_concurrency",
        "generator.openai.temperature",
        "generator.openai.max_tokens",
        "generator.openai.documents",
        "generator.openai.temperatures",
        "generator.openai.resample_rounds",
        "generator.openai.input_price_per_1m",
        "generator.openai.output_price_per_1m",
        # the programs' sandbox limits
        "sandbox.program_seconds",
        "sandbox.memory_mb",
        # fitting the label model and the student, and the out-of-fold choices between them
        "label_model.use_valid_labels",
        "label_model.n_epochs",
        "label_model.max_fit_rows",
        "student.max_train_rows",
        "student.encoder",
        "student.hidden",
        "student.lr",
        "student.batch_size",
        "student.covered_only",
        "student.confidence_weighting",
        "student.device",
        "selection.n_folds",
        "selection.max_train_rows",
        "selection.n_jobs",
        # how program application is batched into Prefect tasks
        "dask.shards_per_task",
    }
)

IMAGE_FILE_ONLY = frozenset(
    {
        # the discriminator that tells an image config file from a text run's
        "kind",
        # how ingested images are sharded, and the names of their splits
        "data.shard_rows",
        "data.train_split",
        "data.valid_split",
        "data.test_split",
        # concept naming, CLIP scoring and program writing
        "concepts.max_repairs",
        "clip.batch_size",
        "clip.zero_shot_template",
        "generator.max_repairs",
        "generator.sample_rows",
        # the LLM endpoint's tuning; the API key is read from the variable api_key_env names
        "llm.api_key_env",
        "llm.timeout",
        "llm.max_retries",
        "llm.max_concurrency",
        "llm.temperature",
        "llm.max_tokens",
        "llm.input_price_per_1m",
        "llm.output_price_per_1m",
        # the programs' sandbox limits
        "sandbox.program_seconds",
        "sandbox.memory_mb",
        # fitting the label model and the student
        "label_model.use_valid_labels",
        "label_model.n_epochs",
        "label_model.max_fit_rows",
        "student.hidden",
        "student.lr",
        "student.batch_size",
        "student.covered_only",
        "student.confidence_weighting",
        "student.device",
        # how program application is batched into Prefect tasks
        "dask.shards_per_task",
    }
)

RELABEL_FILE_ONLY = frozenset(
    {
        # how the new data is read and sharded
        "data.fields",
        "data.shard_rows",
        "data.train_split",
        "data.valid_split",
        "data.test_split",
        "data.split_fractions",
        "data.split_seed",
        # the programs' memory limit (the source run's unless set)
        "sandbox.memory_mb",
        # how program application is batched into Prefect tasks
        "dask.shards_per_task",
    }
)

_BUDGET_HELP = (
    "hard cap in dollars on the LLM calls that write programs (and concepts): a call that could pass it is not sent"
)
_N_WORKERS_HELP = "workers of the LocalCluster started when no --dask-address is given"
_LIBRARY_HELP = "folder of program .py files (with --generator library)"

# Where a run executes and is stored, and its seed: the same flags for run, run-images and relabel.
_PLACEMENT_FLAGS = (
    ConfigFlag("--dask-address", "dask.address"),
    ConfigFlag("--n-workers", "dask.n_workers", _N_WORKERS_HELP),
    ConfigFlag("--storage", "storage"),
    ConfigFlag("--run-id", "run_id"),
    ConfigFlag("--seed", "seed"),
)

RUN_FLAGS = ConfigFlags(
    RunConfig,
    (
        ConfigFlag("--spec", "spec", "task spec YAML, or a shipped spec name (demo, youtube, sms, trec, ...)"),
        ConfigFlag(
            "--data", "data.source",
            "CSV, JSONL, Parquet file or folder, WRENCH folder, or an fsspec URL; 'demo' for the built-in demo",
        ),
        ConfigFlag("--format", "data.format"),
        ConfigFlag("--fields", "data.fields", "comma-separated input fields; the spec's input_fields when not given"),
        ConfigFlag("--label-field", "data.label_field"),
        ConfigFlag("--id-field", "data.id_field"),
        ConfigFlag("--split-field", "data.split_field"),
        ConfigFlag(
            "--split-fractions", "data.split_fractions",
            "carve train,valid,test from all rows with these fractions, e.g. 0.72,0.08,0.2 (a dataset with a "
            "single split and no train split is carved so by default)",
        ),
        ConfigFlag("--split-seed", "data.split_seed", "seed of that carve"),
        ConfigFlag("--generator", "generator.kind"),
        ConfigFlag("--n-programs", "generator.n_programs"),
        ConfigFlag("--library", "generator.library_path", _LIBRARY_HELP),
        ConfigFlag("--llm-base-url", "generator.openai.base_url"),
        ConfigFlag("--llm-model", "generator.openai.model"),
        ConfigFlag("--refresh", "generator.openai.refresh", "ignore cached LLM replies", switch=True),
        ConfigFlag("--budget", "generator.openai.budget_usd", _BUDGET_HELP),
        ConfigFlag("--price-table", "generator.openai.price_table"),
        ConfigFlag("--label-model", "label_model.name"),
        ConfigFlag("--no-student", "student.enabled", "stop at the pseudolabels", switch=False),
        ConfigFlag("--student-model", "student.model"),
        ConfigFlag(
            "--student-candidates", "student.candidates",
            "with auto: comma-separated model/features/rows names to choose among, e.g. "
            "logreg/tfidf/covered,mlp/minilm/all; the default grid when not given",
        ),
        ConfigFlag("--features", "student.features"),
        ConfigFlag("--epochs", "student.epochs"),
        *_PLACEMENT_FLAGS,
    ),
    file_only=RUN_FILE_ONLY,
)

IMAGE_FLAGS = ConfigFlags(
    ImageRunConfig,
    (
        ConfigFlag("--spec", "spec", "task spec YAML, or a shipped spec name (shapes: the image demo)"),
        ConfigFlag(
            "--data", "data.source",
            "a folder of images (root/<class>/*), or CSV/JSONL/Parquet with bytes, paths or URLs; 'demo' for the built-in demo",
        ),
        ConfigFlag("--image-field", "data.image_field"),
        ConfigFlag("--label-field", "data.label_field"),
        ConfigFlag("--id-field", "data.id_field"),
        ConfigFlag("--split-field", "data.split_field"),
        ConfigFlag("--group-field", "data.group_field"),
        ConfigFlag("--store", "data.store"),
        ConfigFlag("--concepts", "concepts.path"),
        ConfigFlag("--n-concepts", "concepts.n_concepts"),
        ConfigFlag("--subject", "concepts.subject"),
        ConfigFlag("--clip-model", "clip.model"),
        ConfigFlag("--clip-pretrained", "clip.pretrained"),
        ConfigFlag("--clip-cache-dir", "clip.cache_dir"),
        ConfigFlag("--device", "clip.device", "cuda or cpu; a GPU when present if not given"),
        ConfigFlag("--generator", "generator.kind"),
        ConfigFlag("--n-programs", "generator.n_programs"),
        ConfigFlag("--library", "generator.library_path", _LIBRARY_HELP),
        ConfigFlag("--llm-base-url", "llm.base_url"),
        ConfigFlag("--llm-model", "llm.model"),
        ConfigFlag("--refresh", "llm.refresh", "ignore cached LLM replies", switch=True),
        ConfigFlag("--budget", "llm.budget_usd", _BUDGET_HELP),
        ConfigFlag("--price-table", "llm.price_table"),
        ConfigFlag("--label-model", "label_model.name"),
        ConfigFlag("--no-student", "student.enabled", "stop at the pseudolabels", switch=False),
        ConfigFlag("--student-model", "student.model"),
        ConfigFlag("--epochs", "student.epochs"),
        *_PLACEMENT_FLAGS,
    ),
    file_only=IMAGE_FILE_ONLY,
)

RELABEL_FLAGS = ConfigFlags(
    RelabelConfig,
    (
        ConfigFlag("--source-run", "source_run"),
        ConfigFlag("--data", "data.source", "the new data: CSV, JSONL, Parquet, WRENCH folder or fsspec URL"),
        ConfigFlag("--format", "data.format"),
        ConfigFlag("--label-field", "data.label_field"),
        ConfigFlag("--id-field", "data.id_field"),
        ConfigFlag("--split-field", "data.split_field"),
        ConfigFlag("--no-student", "student", "stop at the pseudolabels", switch=False),
        ConfigFlag(
            "--program-seconds", "sandbox.program_seconds",
            "wall-clock budget per program per shard; the source run's when not given",
        ),
        *_PLACEMENT_FLAGS,
    ),
    file_only=RELABEL_FILE_ONLY,
)

ANNOTATE_FLAGS = ConfigFlags(
    RunConfig,
    (
        ConfigFlag(
            "--llm-base-url", "generator.openai.base_url",
            "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; the run's when not given",
        ),
        ConfigFlag("--llm-model", "generator.openai.model", "the run's when not given"),
        ConfigFlag("--refresh", "generator.openai.refresh", "ignore cached replies", switch=True),
        ConfigFlag("--price-table", "generator.openai.price_table", "YAML price table over the shipped one; the run's when not given"),
    ),
    amends_stored=True,
)

CONFIG_FLAGS: dict[str, ConfigFlags] = {
    "run": RUN_FLAGS,
    "generate": RUN_FLAGS,
    "run-images": IMAGE_FLAGS,
    "relabel": RELABEL_FLAGS,
    "annotate": ANNOTATE_FLAGS,
}
"""The flags of each command that set a config key; a command's other flags are not config keys."""


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="run config YAML, e.g. deployments/local.yaml (the keys of alchemist_core.config.RunConfig); flags override it",
    )
    parser.add_argument(
        "--dry-run", action="store_true",
        help="print the planned LLM calls, estimated tokens and dollars of generation; send nothing, start nothing",
    )  # fmt: skip
    add_config_flags(parser, RUN_FLAGS)


def _add_image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="image run config YAML with kind: images (the keys of alchemist_core.images.pipeline.ImageRunConfig; "
        "an example in docs/multimodal.md); flags override it",
    )
    add_config_flags(parser, IMAGE_FLAGS)


def _dry_run(config: RunConfig) -> int:
    """Print what generation would call and cost; sends nothing and starts no flow."""
    from alchemist_core.data.storage import open_storage
    from alchemist_core.generators.plan import plan_generation
    from alchemist_core.spec import load_spec

    plan = plan_generation(
        load_spec(config.spec), config.generator.model_dump(mode="json"), cache=open_storage(config.storage).child("cache"),
        seed=config.seed,
    )  # fmt: skip
    print("\n".join(plan.lines()))
    return 0


def _ready(config: BaseModel) -> None:
    """Check the LLM settings before anything starts (no Prefect, no ingest): a clear error now, not a traceback later."""
    from alchemist_core.runs import check_ready

    check_ready(config)


def _cmd_run(args: argparse.Namespace) -> int:
    from alchemist_core.config import load_config
    from flows.environment import apply_offline_defaults

    config = load_config(args.config, config_overrides(args, RUN_FLAGS))
    if args.dry_run:
        return _dry_run(config)
    args.log_session.storage = config.storage
    _ready(config)
    apply_offline_defaults(config.storage)
    from flows.label_dataset import label_dataset

    summary = label_dataset(config)
    _finished(args, summary, "run")
    return 0


def _finished(args: argparse.Namespace, summary: dict[str, Any], what: str) -> None:
    """The short summary a pipeline command ends with; the log file then moves into the run folder."""
    from flows.console import summary_lines

    args.log_session.run_root = summary.get("run_root")
    print("\n" + "\n".join(summary_lines(summary, what=what)))


def _cmd_run_images(args: argparse.Namespace) -> int:
    from alchemist_core.images.pipeline import load_image_config
    from flows.environment import apply_offline_defaults

    config = load_image_config(args.config, config_overrides(args, IMAGE_FLAGS))
    args.log_session.storage = config.storage
    _ready(config)
    apply_offline_defaults(config.storage)
    from flows.label_images import label_images

    summary = label_images(config)
    _finished(args, summary, "image run")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from alchemist_core.config import load_config
    from flows.environment import apply_offline_defaults

    config = load_config(args.config, config_overrides(args, RUN_FLAGS))
    if args.dry_run:
        return _dry_run(config)
    args.log_session.storage = config.storage
    _ready(config)
    apply_offline_defaults(config.storage)
    from flows.generate_programs import generate_programs

    summary = generate_programs(config)
    args.log_session.run_root = summary["run_root"]
    print(f"\nprograms of run {summary['run_id']}: {summary['programs']}\nreview: {summary['report']}")
    return 0


def _cmd_relabel(args: argparse.Namespace) -> int:
    from alchemist_core.relabel import load_relabel_config
    from flows.environment import apply_offline_defaults

    config = load_relabel_config(args.config, config_overrides(args, RELABEL_FLAGS))
    args.log_session.storage = config.storage
    apply_offline_defaults(config.storage)
    from flows.relabel import relabel

    summary = relabel(config)
    _finished(args, summary, "relabel run")
    return 0


def _run_storage(run: str):
    from alchemist_core.data.storage import open_storage

    storage = open_storage(run)
    if not storage.exists("programs", "manifest.json"):
        raise AlchemistError(f"expected a run folder with programs/manifest.json at {run}; give --run <storage>/runs/<run-id>")
    return storage


def _cmd_programs(args: argparse.Namespace) -> int:
    from alchemist_core.programs.program_set import load_program_set

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
    from alchemist_core.data.storage import open_storage
    from alchemist_core.students.training import predict_file

    run = open_storage(args.run)
    out = predict_file(run, args.data, args.out, fields=args.fields.split(",") if args.fields else None, format=args.format)
    print(f"predictions written to {out}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from alchemist_core.data.storage import open_storage
    from alchemist_core.export import export_run

    summary = export_run(
        open_storage(args.run),
        args.out, format=args.format, fields=[f for f in args.fields.split(",") if f] if args.fields is not None else None,
        splits=args.splits.split(",") if args.splits else None,
    )  # fmt: skip
    print(f"wrote {summary.n_rows:,} rows of {', '.join(summary.splits)} to {summary.path}: {', '.join(summary.columns)}")
    return 0


def _cmd_prompt(args: argparse.Namespace) -> int:
    from alchemist_core.generators.prompts import (
        code_messages,
        supplement_from_spec,
        supplement_messages,
    )
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
    from alchemist_core.config import OpenAIConfig
    from alchemist_core.generators.plan import prompt_estimate_line
    from alchemist_core.llm.setup import prices_for

    llm = OpenAIConfig(model=args.llm_model, price_table=args.price_table)
    prices = prices_for(llm.model_dump(mode="json"))
    estimates = {title: prompt_estimate_line(messages, llm.model, prices, llm.max_tokens) for title, messages in stages}
    if args.json:
        print(json.dumps({title: messages for title, messages in stages}, indent=2, ensure_ascii=False))
        print("\n".join(f"{title}: {line}" for title, line in estimates.items()), file=sys.stderr)
        return 0
    for title, messages in stages:
        print(f"===== {title} =====")
        for message in messages:
            print(f"--- {message['role']} ---")
            print(message["content"])
        print(f"--- estimate ---\n{estimates[title]}")
        print()
    return 0


def _cmd_spec(args: argparse.Namespace) -> int:
    from pathlib import Path

    from alchemist_core.spec import load_spec

    if args.action == "check":
        spec = load_spec(args.spec)
        print(f"{args.spec}: a valid task spec {spec.name!r} with {spec.n_classes} classes ({', '.join(spec.class_names)}); "
              f"programs read {', '.join(spec.input_fields)}")  # fmt: skip
        missing = [c.name for c in spec.classes if not c.description]
        if missing:
            print(f"  classes without a description (an LLM generator reads them): {', '.join(missing)}")
        return 0
    import yaml

    from alchemist_core.spec import parse_spec
    from alchemist_core.spec_template import spec_template, summarize_data

    fields = args.fields.split(",") if args.fields else None
    summary = summarize_data(args.data, label_field=args.label_field or None, fields=fields)
    text = spec_template(summary)
    parse_spec(yaml.safe_load(text), source="the template")  # the template is valid as written
    if args.out == "-":
        print(text, end="")
        return 0
    out = Path(args.out or f"{summary.name}.yaml")
    if out.exists() and not args.force:
        raise AlchemistError(f"{out} exists; give --out another path, or --force to replace it")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {len(summary.label_counts)} label values, input fields {', '.join(summary.text_fields)}; "
          f"edit the instruction and the class descriptions, then: alchemist run --spec {out} --data {args.data}")  # fmt: skip
    return 0


def _amended(config: BaseModel, overrides: dict[str, Any]) -> BaseModel:
    """``config`` with the dotted ``overrides`` that are not ``None`` applied, validated again."""
    data = config.model_dump(mode="json")
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            if node.get(key) is None:
                node[key] = {}  # an optional section the stored run left empty (generator.openai of an offline run)
            node = node[key]
        node[last] = value
    return type(config).model_validate(data)


def _cmd_annotate(args: argparse.Namespace) -> int:
    from alchemist_core.baseline import (
        annotate_baseline,
        comparison_markdown,
        program_label_quality,
    )
    from alchemist_core.data.ingest import load_dataset_manifest
    from alchemist_core.data.storage import open_storage
    from alchemist_core.llm.setup import build_llm_client
    from alchemist_core.spec import TaskSpec

    run = open_storage(args.run)
    args.log_session.run_root = run.root
    if not run.exists("manifest.json"):
        raise AlchemistError(f"expected a finished run (with manifest.json) at {args.run}; run `alchemist run` first")
    config = _amended(RunConfig.model_validate(run.read_json("config.json")), config_overrides(args, ANNOTATE_FLAGS))
    settings = config.model_dump(mode="json")
    spec = TaskSpec.model_validate(run.read_json("spec.json"))
    root = open_storage(config.storage)
    data = root.child("datasets", run.read_json("manifest.json")["dataset"]["digest"])
    manifest = load_dataset_manifest(data)
    client = build_llm_client(config.generator.llm.model_dump(mode="json"), cache=root.child("cache"), ledger_storage=run)
    if not args.dry_run and not client.price().known:
        raise AlchemistError(
            f"--budget needs the price of {client.endpoint.model}, which is not in the price table {client.prices.source} "
            f"(dated {client.prices.date}): give --price-table FILE (or set input_price_per_1m and output_price_per_1m "
            "in the run's config); --dry-run shows the calls and tokens without a price"
        )
    summary = annotate_baseline(
        run=run, data=data, manifest=manifest, spec=spec, client=client, settings=settings, cache=root.child("cache"),
        budget_usd=args.budget, dry_run=args.dry_run, batch_size=args.batch_size,
    )
    estimate, budget = summary["estimate"], summary["budget"]
    price = f"${estimate['dollars']:,.4f}" if estimate["price_known"] else "an unknown price (the model is not in the price table)"
    print(
        f"estimate: {estimate['n_calls']:,} calls, ~{estimate['prompt_tokens'] + estimate['completion_tokens']:,} tokens, "
        f"{price} with {estimate['model']} for the {summary['n_rows']:,} rows of the training split "
        f"{summary['pool']!r} ({estimate['method']})"
    )
    print(
        f"budget (all direct labeling of this run): cap ${budget['cap']:,.4f}, spent so far ${budget['spent_before']:,.4f} "
        f"by earlier annotate commands, left ${budget['left_before']:,.4f}"
    )
    if args.dry_run:
        if estimate["dollars"] > budget["left_before"]:
            print(
                f"alchemist: the estimate exceeds the ${budget['left_before']:,.4f} left; labeling would stop at the cap "
                "(cached batches cost nothing) unless --budget is raised",
                file=sys.stderr,
            )
        return 0
    print(
        f"this command: {summary['n_calls']:,} calls ({summary['n_cached_calls']:,} cached), ${summary['dollars']:,.4f}; "
        f"a usable label for {summary['n_labeled']:,} of {summary['n_rows']:,} training rows"
    )
    print(
        f"budget: spent so far ${budget['spent_total']:,.4f} of the ${budget['cap']:,.4f} cap, left ${budget['left']:,.4f}"
    )
    programs: dict[str, Any] = {
        "label_quality": program_label_quality(run, data, config.data.train_split, spec.n_classes)
    }
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
    if summary["n_unusable"]:
        print(
            f"alchemist: {summary['n_unusable_replies']:,} of {summary['n_calls']:,} replies were unusable; "
            f"{summary['n_unusable']:,} rows got no label (replies are cached: --refresh asks again)",
            file=sys.stderr,
        )
    if summary.get("budget_exhausted"):
        print(
            f"alchemist: the budget cap of ${budget['cap']:,.4f} for all direct labeling of this run was reached; "
            f"{summary['n_unannotated']:,} rows were not sent (raise --budget to send them)",
            file=sys.stderr,
        )
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from alchemist_core.cache_admin import cache_usage, prune_cache
    from alchemist_core.data.storage import open_storage

    root = open_storage(args.storage)

    def when(seconds: float | None) -> str:
        return "-" if seconds is None else datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M")

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

    run = commands.add_parser("run", help="run the whole pipeline (the label-dataset flow)", epilog=_file_only_epilog(RUN_FLAGS))
    _add_run_arguments(run)
    run.set_defaults(handler=_cmd_run)

    generate = commands.add_parser(
        "generate", help="only generate, validate and store programs, for review before labeling", epilog=_file_only_epilog(RUN_FLAGS)
    )
    _add_run_arguments(generate)
    generate.set_defaults(handler=_cmd_generate)

    relabel = commands.add_parser(
        "relabel", help="apply a stored run's programs, label model and student to new data", epilog=_file_only_epilog(RELABEL_FLAGS)
    )
    relabel.add_argument(
        "--config",
        help="relabel config YAML, e.g. deployments/relabel.yaml (the keys of alchemist_core.relabel.RelabelConfig); "
        "flags override it",
    )
    add_config_flags(relabel, RELABEL_FLAGS)
    relabel.set_defaults(handler=_cmd_relabel)

    images = commands.add_parser(
        "run-images", help="the multimodal pipeline: concepts, CLIP scores, concept programs", epilog=_file_only_epilog(IMAGE_FLAGS)
    )
    _add_image_arguments(images)
    images.set_defaults(handler=_cmd_run_images)

    programs = commands.add_parser("programs", help="read the programs of a run")
    programs_actions = programs.add_subparsers(dest="action", required=True)
    listing = programs_actions.add_parser("list", help="one line per program")
    listing.add_argument("--run", required=True, help="the run folder (<storage>/runs/<run-id>)")
    show = programs_actions.add_parser("show", help="a program's source and origin")
    show.add_argument("name")
    show.add_argument("--run", required=True, help="the run folder (<storage>/runs/<run-id>)")
    programs.set_defaults(handler=_cmd_programs)

    predict = commands.add_parser("predict", help="label new data with a run's student")
    predict.add_argument("--run", required=True, help="the run folder (<storage>/runs/<run-id>) with a trained student")
    predict.add_argument("--data", required=True, help="CSV, JSONL or Parquet with the spec's input fields")
    predict.add_argument("--out", required=True, help="output Parquet or CSV path")
    predict.add_argument("--fields", help="comma-separated input fields; the student's when not given")
    predict.add_argument("--format", choices=["csv", "jsonl", "parquet"])
    predict.set_defaults(handler=_cmd_predict)

    export = commands.add_parser("export", help="every row of a run with its id, input fields, pseudolabel, student and final label")
    export.add_argument("--run", required=True, help="the run folder (<storage>/runs/<run-id>)")
    export.add_argument("--out", required=True, help="output file: .csv, .parquet or .jsonl")
    export.add_argument("--format", choices=["csv", "parquet", "jsonl"], help="the output format when --out does not end in one")
    export.add_argument("--fields", help="comma-separated input fields to include (default: all; '' for none)")
    export.add_argument("--splits", help="comma-separated splits (default: all)")
    export.set_defaults(handler=_cmd_export)

    prompt = commands.add_parser("prompt", help="print the exact messages that would be sent to the LLM")
    prompt.add_argument("--spec", required=True, help="task spec YAML, or a shipped spec name")
    prompt.add_argument("--kind", default="none", choices=["none", "description", "exemplars", "keywords", "rules"],
                        help="supplementary information: none = one-stage")
    prompt.add_argument("--variant", type=int, default=0)
    prompt.add_argument("--json", action="store_true", help="print the messages as JSON (the estimates go to stderr)")
    prompt.add_argument(
        "--llm-model", default=RunConfig().generator.llm.model, help="model the estimate prices the prompt for (default: %(default)s)"
    )
    prompt.add_argument("--price-table", help="YAML price table over the shipped one")
    prompt.set_defaults(handler=_cmd_prompt)

    spec = commands.add_parser("spec", help="write a task spec from a data file, or check one")
    spec_actions = spec.add_subparsers(dest="action", required=True)
    init = spec_actions.add_parser("init", help="write a commented spec template from a data file's columns and labels")
    init.add_argument("--data", required=True, help="CSV, TSV, JSONL or Parquet file, or a WRENCH folder")
    init.add_argument("--label-field", default="label", help="the gold-label column (default: %(default)s; '' for none)")
    init.add_argument("--fields", help="comma-separated input fields; text-like columns are picked when not given")
    init.add_argument("--out", help="where to write it (default: <data name>.yaml; '-' prints it)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    check = spec_actions.add_parser("check", help="validate a spec and say what it defines")
    check.add_argument("spec", help="task spec YAML, or a shipped spec name")
    spec.set_defaults(handler=_cmd_spec)

    annotate = commands.add_parser("annotate", help="the paper's baseline: the LLM labels every training row directly")
    annotate.add_argument("--run", required=True, help="a finished run folder; its dataset, spec and student settings are reused")
    annotate.add_argument(
        "--budget", type=float, required=True,
        help="hard cap in dollars on all direct labeling of this run: what earlier annotate commands spent counts "
        "against it; no call is made past it (cached batches cost nothing)",
    )  # fmt: skip
    annotate.add_argument("--dry-run", action="store_true", help="only print the cost estimate and the budget left")
    annotate.add_argument("--batch-size", type=int, default=20, help="rows per call")
    add_config_flags(annotate, ANNOTATE_FLAGS)
    annotate.set_defaults(handler=_cmd_annotate)

    cache = commands.add_parser("cache", help="what the caches under a storage root hold; prune old entries")
    cache_actions = cache.add_subparsers(dest="action", required=True)
    usage = cache_actions.add_parser("usage", help="files, size and age of each cache area")
    usage.add_argument("--storage", default=RunConfig.model_fields["storage"].default,
                       help="artifact root: a folder or s3://bucket/prefix (default: %(default)s)")
    prune = cache_actions.add_parser(
        "prune", help="remove cache files last written longer ago than --older-than (never runs/ or datasets/)"
    )
    prune.add_argument("--storage", default=RunConfig.model_fields["storage"].default,
                       help="artifact root: a folder or s3://bucket/prefix (default: %(default)s)")
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


PIPELINE_COMMANDS = frozenset({"run", "generate", "run-images", "relabel", "annotate"})
"""Commands that run a pipeline: their full log goes to a file in the run folder."""


def main(argv: Sequence[str] | None = None) -> int:
    from flows import console

    args = build_parser().parse_args(argv)
    dry = getattr(args, "dry_run", False)
    session = console.setup(verbose=args.verbose, command=args.command, to_file=args.command in PIPELINE_COMMANDS and not dry)
    args.log_session = session
    try:
        code = args.handler(args)
        if session.path:
            print(f"log: {session.finish()}")
        return code
    except AlchemistError as error:
        print(f"alchemist: error: {error}", file=sys.stderr)
        failure = console.describe_failure(session, error)
        if failure:
            print(failure, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alchemist: interrupted; finished stages are cached, rerun the same command to resume", file=sys.stderr)
        if session.path:
            print(f"alchemist: the log so far: {session.finish()}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`alchemist prompt --json | head`): nothing left to say to it. Point
        # stdout at /dev/null so that the interpreter's last flush does not raise again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        return 0
    except Exception as error:
        print(f"alchemist: unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        failure = console.describe_failure(session, error)
        if failure:
            print(failure, file=sys.stderr)
        else:
            raise
        return 1
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
