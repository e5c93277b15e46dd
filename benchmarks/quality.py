"""Label quality on real data: the pipeline's core stages, scored against published numbers.

For each dataset and program source this runs, in process, the stages the ``label-dataset``
flow runs: ingest, programs applied with :func:`alchemist_core.apply.label_partition`,
curation, the label model chosen on the valid split, the student (chosen on the valid split
too) through :func:`alchemist_core.training.distill_and_predict`. It prints one table.

Every choice (programs kept, label model, student) is made on the valid split or without
labels; the test split is only scored.

Usage::

    python benchmarks/quality.py [--datasets youtube,sms] [--sources human,offline]
                                 [--programs-dir DIR] [--cache DIR] [--students auto]

Datasets are read from ``../shared/data`` beside the checkout (``--data`` to change it).
MedAbs ships only its official test split; it is carved into an unlabeled pool, a labeled
valid set and a test part with ``numpy.random.RandomState(0)`` (see :func:`carve_medabs`).
"""

from __future__ import annotations

import os

# Before numpy and torch load: the machine is shared, two cores at most.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Mapping, Sequence  # noqa: E402

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    # Run as a script: make the checkout importable without installing it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alchemist_core.aggregate import probs_to_preds, select_label_model  # noqa: E402
from alchemist_core.curate import curate_programs  # noqa: E402
from alchemist_core.evaluate import classification_metrics  # noqa: E402
from alchemist_core.ingest import DatasetManifest, ingest_dataset, read_gold, read_weak_labels  # noqa: E402
from alchemist_core.label_matrix import coverage  # noqa: E402
from alchemist_core.programs import save_program_set  # noqa: E402
from alchemist_core.spec import TaskSpec, load_spec  # noqa: E402
from alchemist_core.storage import Storage, open_storage  # noqa: E402

logger = logging.getLogger("benchmarks.quality")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_CACHE = Path("~/.cache/alchemist/quality").expanduser()
SPECS = REPO / "alchemist_core" / "specs"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Benchmark:
    """One dataset: where it lives and which metric the paper reports for it."""

    name: str
    folder: str  # relative to the data folder (or absolute)
    metric: str  # "accuracy" or "binary_f1": what is chosen on and compared with the paper
    carved: bool = False  # only a test split ships: carve train / valid / test from it
    spec: Path | None = None  # the task spec; by default the shipped one named like the dataset

    @property
    def spec_path(self) -> Path:
        return self.spec if self.spec is not None else SPECS / f"{self.name}.yaml"


BENCHMARKS: dict[str, Benchmark] = {
    "youtube": Benchmark("youtube", "wrench/youtube", "accuracy"),
    "sms": Benchmark("sms", "wrench/sms", "binary_f1"),
    "trec": Benchmark("trec", "wrench/trec", "accuracy"),
    "semeval": Benchmark("semeval", "wrench/semeval", "accuracy"),
    "medabs": Benchmark("medabs", "extra/medabs", "accuracy", carved=True),
}

# (dataset, program source family, stage) -> (value, where it comes from). The source family is
# "human" for the WRENCH labeling functions and "generated" for programs written by a machine
# (the paper's GPT-3.5 programs; here the offline generator or a program folder).
PUBLISHED: dict[tuple[str, str, str], tuple[float, str]] = {
    ("youtube", "human", "label_model"): (0.852, "S"),
    ("youtube", "human", "student"): (0.85, "T4"),
    ("youtube", "generated", "label_model"): (0.92, "T3"),
    ("youtube", "generated", "student"): (0.891, "T1"),
    ("sms", "human", "label_model"): (0.240, "W"),
    ("sms", "human", "student"): (0.89, "T4"),
    ("sms", "generated", "label_model"): (0.64, "T3"),
    ("sms", "generated", "student"): (0.900, "T1"),
    ("trec", "human", "label_model"): (0.608, "W"),
    ("semeval", "human", "label_model"): (0.773, "W"),
    ("medabs", "generated", "label_model"): (0.52, "T3"),
    ("medabs", "generated", "student"): (0.346, "T1"),
}

CITATIONS = {
    "T1": "ALCHEmist Table 1 (GPT-3.5 programs, Snorkel, distilled model)",
    "T3": "ALCHEmist Table 3, 'General' column, GPT-3.5 (label model)",
    "T4": "ALCHEmist Table 4 (human WRENCH LFs, Snorkel, distilled model)",
    "S": "ScriptoriumWS exp_log Exp1 (Snorkel on the human WRENCH LFs, label model)",
    "W": "WRENCH majority vote on the human LFs, WRENCH protocol (SprocketLab logs for sms; "
    "shared/data/README for trec, semeval)",
}

# The flow's student settings (alchemist_core.config.StudentSettings), with the selection on.
STUDENT_SETTINGS: dict[str, Any] = {
    "enabled": True,
    "model": "auto",
    "features": "minilm",
    "encoder": "minilm",
    "hidden": [256],
    "epochs": 30,
    "lr": 1e-3,
    "batch_size": 128,
    "covered_only": True,
    "confidence_weighting": True,
    "device": None,
}


# -- datasets ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    """An ingested dataset with each split's row ids, texts and gold labels."""

    benchmark: Benchmark
    spec: TaskSpec
    data: Storage
    manifest: DatasetManifest
    fields: list[str]
    row_ids: dict[str, np.ndarray]
    texts: dict[str, list[str]]
    gold: dict[str, np.ndarray]
    note: str = ""


def carve_medabs(source: Path, out: Path, *, seed: int = 0) -> tuple[Path, dict[str, int]]:
    """Write MedAbs' test split as a JSONL file with a ``split`` column: train / valid / test.

    The rule is the one ``shared/data/extra/README.md`` uses where a source has no split:
    ``perm = RandomState(seed).permutation(N)``; the first ``ceil(0.2 N)`` rows are the test
    part, the next ``ceil(0.1 (N - n_test))`` the labeled valid set, the rest the unlabeled
    pool (ingest keeps its labels apart, as for every split; nothing here reads them).
    """
    content = json.loads(source.read_text(encoding="utf-8"))
    labels = json.loads((source.parent / "label.json").read_text(encoding="utf-8"))
    ids = list(content)
    n_rows = len(ids)
    n_test = math.ceil(0.2 * n_rows)
    n_valid = math.ceil(0.1 * (n_rows - n_test))
    order = np.random.RandomState(seed).permutation(n_rows)
    split = np.empty(n_rows, dtype=object)
    split[order[:n_test]] = "test"
    split[order[n_test : n_test + n_valid]] = "valid"
    split[order[n_test + n_valid :]] = "train"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for i, row_id in enumerate(ids):
            row = content[row_id]
            record = {"id": f"medabs-{row_id}", "split": split[i], "text": row["data"]["text"], "label": labels[str(row["label"])]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts = {name: int((split == name).sum()) for name in SPLITS}
    return out, counts


def prepare_dataset(benchmark: Benchmark, data_root: Path, cache: Storage) -> Prepared:
    """Ingest the dataset (once; later runs find it by digest) and read every split."""
    from alchemist_core.training import row_texts

    spec = load_spec(benchmark.spec_path)
    fields = list(spec.input_fields)
    folder = data_root / benchmark.folder
    if not folder.is_dir():
        raise FileNotFoundError(f"expected the {benchmark.name} data at {folder}")
    storage = cache.child("datasets", benchmark.name)
    note = ""
    if benchmark.carved:
        carved, counts = carve_medabs(folder / "test.json", Path(cache.uri("carved", f"{benchmark.name}.jsonl")))
        note = (
            f"{benchmark.name}: only the official test split ships; carved with RandomState(0) into "
            f"{counts['train']} unlabeled pool / {counts['valid']} valid / {counts['test']} test rows"
        )
        manifest = ingest_dataset(
            str(carved), storage, fields=fields, id_field="id", split_field="split",
            class_names=spec.class_names, name=benchmark.name,
        )
    else:
        manifest = ingest_dataset(str(folder), storage, fields=fields, format="wrench", class_names=spec.class_names, name=benchmark.name)
    row_ids, texts, gold = {}, {}, {}
    for split in SPLITS:
        info = manifest.splits[split]
        ids, split_texts = [], []
        for shard in info.shards:
            table = storage.read_table(shard, columns=["row_id", *fields])
            ids.extend(table.column("row_id").to_pylist())
            split_texts.extend(row_texts(table, fields))
        gold_ids, labels = read_gold(storage, split)
        if list(gold_ids) != ids:
            raise ValueError(f"{benchmark.name}/{split}: gold labels and shards are not in the same row order")
        row_ids[split], texts[split], gold[split] = np.asarray(ids, dtype=object), split_texts, labels
    return Prepared(benchmark, spec, storage, manifest, fields, row_ids, texts, gold, note)


# -- program sources --------------------------------------------------------------------------


@dataclass
class Votes:
    """The votes of one program source on every split."""

    source: str
    family: str  # "human" or "generated"
    names: list[str]
    L: dict[str, np.ndarray]
    digests: list[str] | None = None
    note: str = ""
    seconds: float = 0.0


def human_votes(prepared: Prepared) -> Votes | None:
    """The dataset's own labeling functions (WRENCH ``weak_labels``), ``None`` when it has none."""
    L = {split: read_weak_labels(prepared.data, split) for split in SPLITS}
    if any(m is None or m.shape[1] == 0 for m in L.values()):
        return None
    names = [f"weak_{j:02d}" for j in range(L["train"].shape[1])]
    return Votes("human", "human", names, L)


def generated_votes(prepared: Prepared, source: str, cache: Storage, *, seed: int, programs_dir: Path | None = None) -> Votes:
    """Programs from the offline generator (seeing the valid split's labels) or a folder, applied to every split."""
    from alchemist_core.features import embed_with_cache
    from alchemist_core.generate import generation_context
    from alchemist_core.generators.library import LibraryGenerator
    from alchemist_core.generators.offline import OfflineGenerator
    from alchemist_core.sandbox import SandboxLimits

    started = time.perf_counter()
    embeddings = cache.child("embeddings")
    limits = SandboxLimits(program_seconds=120.0)
    if source == "offline":
        generator = OfflineGenerator(limits=limits, encoder=lambda texts: embed_with_cache(texts, embeddings))
    else:
        generator = LibraryGenerator(programs_dir)
    context = generation_context(
        prepared.spec, prepared.manifest, prepared.data, fields=prepared.fields, n_programs=10, n_sample=500, seed=seed
    )
    result = generator.generate(context)
    program_set = result.program_set
    if not len(program_set):
        raise ValueError(f"the {source} source wrote no valid program for {prepared.benchmark.name}")
    save_program_set(program_set, cache.child("runs", f"{prepared.benchmark.name}-{source}"), "programs")
    note = ""
    if source == "offline":
        note = (
            f"offline generator saw the gold labels of {len(context.labeled_rows)} valid rows and "
            f"{len(context.sample_rows)} unlabeled train rows; {len(result.rejected)} candidates rejected"
        )
    L = {split: _apply(prepared, split, program_set, cache, limits) for split in SPLITS}
    return Votes(
        source, "generated", list(program_set.names), L, [p.digest for p in program_set], note,
        time.perf_counter() - started,
    )


def _apply(prepared: Prepared, split: str, program_set, cache: Storage, limits) -> np.ndarray:
    import pyarrow as pa

    from alchemist_core.apply import label_partition
    from alchemist_core.votes import add_program_features

    tables = [prepared.data.read_table(s) for s in prepared.manifest.splits[split].shards]
    table = pa.concat_tables(tables)
    fields = list(prepared.fields)
    if program_set.features:
        table = add_program_features(table, program_set.features, fields, cache)
        fields += list(program_set.features)
    return label_partition(table, program_set, prepared.spec.n_classes, fields=fields, limits=limits).L


# -- the stages after the votes --------------------------------------------------------------


def _scores(y: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, float]:
    metrics = classification_metrics(y, pred, n_classes)
    f1 = metrics["binary_f1"] if n_classes == 2 else metrics["macro_f1"]
    return {"accuracy": metrics["accuracy"], "f1": f1, "binary_f1": metrics.get("binary_f1", f1)}


def evaluate_source(prepared: Prepared, votes: Votes, cache: Storage, *, seed: int, student_settings: Mapping[str, Any]) -> dict[str, Any]:
    """Curation, label model and student for one program source; every choice on the valid split."""
    from alchemist_core.pseudolabels import pseudolabel_table
    from alchemist_core.training import distill_and_predict
    from alchemist_core.votes import votes_table

    bench, spec = prepared.benchmark, prepared.spec
    n_classes = spec.n_classes
    run = cache.child("runs", f"{bench.name}-{votes.source}")
    for split in SPLITS:
        # The flow's layout, so a run's votes can be inspected (or re-read) like a pipeline run's.
        run.write_table(votes_table(prepared.row_ids[split], votes.L[split], votes.names), "votes", split, "shard-00000.parquet")
    y_valid, y_test = prepared.gold["valid"], prepared.gold["test"]
    curation = curate_programs(
        votes.L["train"], votes.names, n_classes=n_classes, L_labeled=votes.L["valid"], y_labeled=y_valid, digests=votes.digests
    )
    keep = [votes.names.index(name) for name in curation.keep]
    L = {split: matrix[:, keep] for split, matrix in votes.L.items()}
    metric = bench.metric
    name, model, valid_scores = select_label_model(
        L["train"], L["valid"], y_valid, n_classes, seed=seed, metric=metric, use_valid_labels=True
    )
    posterior = {split: model.predict_proba(L[split]) for split in SPLITS}
    lm_test = _scores(y_test, probs_to_preds(posterior["test"], tie_break="wrench"), n_classes)

    labels = {
        split: [run.write_table(pseudolabel_table(prepared.row_ids[split], posterior[split], L[split]), "labels", split, "shard-00000.parquet")]
        for split in SPLITS
    }
    shards = {split: list(prepared.manifest.splits[split].shards) for split in SPLITS}
    started = time.perf_counter()
    student = distill_and_predict(
        labels=labels, data=prepared.data, shards=shards, fields=prepared.fields,
        settings={**student_settings, "metric": metric},
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=cache, run=run, seed=seed,
    )
    student_seconds = time.perf_counter() - started
    predictions = run.read_table("student", "predictions", "test.parquet")
    st_test = _scores(y_test, predictions.column("label").to_numpy(), n_classes)
    return {
        "dataset": bench.name,
        "metric": metric,
        "source": votes.source,
        "family": votes.family,
        "n_programs": len(votes.names),
        "n_kept": len(keep),
        "dropped": dict(curation.dropped),
        "coverage": coverage(L["train"]),
        "label_model": name,
        "label_model_valid": valid_scores,
        "label_model_test": lm_test,
        "student": student.get("chosen", {"model": student_settings["model"], "features": student_settings["features"]}),
        "student_valid": student.get("valid_scores", {}),
        "student_test": st_test,
        "student_seconds": round(student_seconds, 1),
        "program_seconds": round(votes.seconds, 1),
        "note": votes.note,
    }


# -- the table --------------------------------------------------------------------------------


def _published(dataset: str, family: str, stage: str) -> str:
    value = PUBLISHED.get((dataset, family, stage))
    return "—" if value is None else f"{value[0]:.3f} [{value[1]}]"


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The results as one Markdown table; the metric the paper reports is marked with *."""
    header = (
        "| dataset | source | programs kept/all | coverage | label model | LM acc | LM F1 | LM published "
        "| student | student acc | student F1 | student published |"
    )
    lines = [header, "|" + "---|" * 12]
    for row in rows:
        metric = row["metric"]
        lm, st = row["label_model_test"], row["student_test"]

        def cell(scores: Mapping[str, float], key: str) -> str:
            starred = (key == "accuracy") == (metric == "accuracy")
            return f"{scores[key]:.3f}" + ("*" if starred else "")

        student = row["student"]
        student_name = "/".join(str(student[k]) for k in ("model", "features", "rows") if k in student)
        lines.append(
            f"| {row['dataset']} | {row['source']} | {row['n_kept']}/{row['n_programs']} | {row['coverage']:.3f} "
            f"| {row['label_model']} | {cell(lm, 'accuracy')} | {cell(lm, 'f1')} | {_published(row['dataset'], row['family'], 'label_model')} "
            f"| {student_name} | {cell(st, 'accuracy')} | {cell(st, 'f1')} | {_published(row['dataset'], row['family'], 'student')} |"
        )
    return "\n".join(lines)


def run_benchmarks(
    benchmarks: Sequence[Benchmark],
    sources: Sequence[str],
    *,
    data_root: Path = DEFAULT_DATA,
    cache_dir: Path = DEFAULT_CACHE,
    programs_dir: Path | None = None,
    seed: int = 0,
    student_settings: Mapping[str, Any] = STUDENT_SETTINGS,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every (dataset, source) pair; returns the result rows and the notes to print with them."""
    cache = open_storage(str(cache_dir))
    rows, notes = [], []
    for benchmark in benchmarks:
        name = benchmark.name
        prepared = prepare_dataset(benchmark, data_root, cache)
        if prepared.note:
            notes.append(prepared.note)
        for source in sources:
            if source == "human":
                votes = human_votes(prepared)
                if votes is None:
                    notes.append(f"{name}: no human labeling functions; 'human' skipped")
                    continue
            elif source in ("offline", "folder"):
                votes = generated_votes(prepared, source, cache, seed=seed, programs_dir=programs_dir)
            else:
                raise ValueError(f"unknown program source {source!r}; expected human, offline or folder")
            if votes.note:
                notes.append(f"{name}: {votes.note}")
            row = evaluate_source(prepared, votes, cache, seed=seed, student_settings=student_settings)
            if row["dropped"]:
                notes.append(f"{name}/{source}: curation dropped " + "; ".join(f"{k}: {v}" for k, v in row["dropped"].items()))
            logger.info("%s", json.dumps({k: v for k, v in row.items() if k != "dropped"}, default=str))
            rows.append(row)
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="youtube,sms,trec,semeval,medabs")
    parser.add_argument("--sources", default="human,offline", help="human, offline, and folder (with --programs-dir)")
    parser.add_argument("--programs-dir", type=Path, default=None, help="a folder of program .py files (source 'folder')")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--student", default="auto", help="auto (chosen on valid), logreg, mlp or finetune")
    parser.add_argument("--features", default="minilm", help="minilm or tfidf (with a fixed --student)")
    parser.add_argument(
        "--candidates", default=None,
        help="with --student auto: comma-separated model/features/rows names (default: the library's grid)",
    )
    parser.add_argument(
        "--finetune", action="store_true",
        help="with --student auto: add the fine-tuned encoder (finetune/text/covered) to the grid (slow on a CPU)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result rows as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(2)
    sources = [s for s in args.sources.split(",") if s]
    if args.programs_dir is not None and "folder" not in sources:
        sources.append("folder")
    settings = {**STUDENT_SETTINGS, "model": args.student, "features": args.features}
    if args.candidates or args.finetune:
        from alchemist_core.training import DEFAULT_STUDENT_CANDIDATES

        names = args.candidates.split(",") if args.candidates else [c.name for c in DEFAULT_STUDENT_CANDIDATES]
        settings["candidates"] = names + (["finetune/text/covered"] if args.finetune else [])
    started = time.perf_counter()
    names = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; expected some of {sorted(BENCHMARKS)}")
    rows, notes = run_benchmarks(
        [BENCHMARKS[d] for d in names], sources, data_root=args.data, cache_dir=args.cache,
        programs_dir=args.programs_dir, seed=args.seed, student_settings=settings,
    )
    print(format_table(rows))
    print()
    print("Metric: accuracy; * marks the metric the paper reports (binary F1 of the spam class for sms);")
    print("F1 is that binary F1 for two classes, macro F1 otherwise. Published numbers:")
    for key, text in CITATIONS.items():
        print(f"  [{key}] {text}")
    for note in notes:
        print(f"- {note}")
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
