"""Label quality on real data: the pipeline's core stages, scored against published numbers.

For each dataset and program source this runs, in process, the stages the ``label-dataset``
flow runs: ingest (and a seeded carve where a dataset ships no train / valid / test), programs
applied with :func:`alchemist_core.programs.apply.label_partition`, the out-of-fold selection of
:mod:`alchemist_core.selection` (curation, label model, student, and which of the label model,
the students and the supervised floor gives the final labels), then the winner refitted on
every labeled row through :func:`alchemist_core.students.training.distill_and_predict`. It prints one
table.

Every choice is made out of fold on the valid split; the test split is only scored. A
generator that learns from labeled rows (``offline``) is rerun once per fold without that
fold's rows, so its programs never see the rows they are scored on.

Usage::

    python benchmarks/quality.py [--datasets youtube,sms] [--sources human,offline,llm-style]
                                 [--programs-dir DIR] [--cache DIR] [--student auto]

Datasets are read from ``../shared/data`` beside the checkout (``--data`` to change it).
MedAbs ships only its official test split and chemprot only valid and test; both are carved
into an unlabeled pool, a labeled valid set and a test part by
:func:`alchemist_core.data.carve.carve_dataset` (``RandomState(0)``, the rule of
``shared/data/extra/README.md``). The ``llm-style`` source is the program sets in
``benchmarks/programs/<dataset>/`` (see the README there). ``trec-skewed`` is a variant of
TREC written on the fly (:class:`Skew`): three of its classes at 69 / 20 / 11 % and a third of
its labeling functions, imbalanced data where accuracy rewards the largest class.
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
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Mapping, Sequence  # noqa: E402

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    # Run as a script: make the checkout importable without installing it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alchemist_core.data.ingest import (  # noqa: E402
    DatasetManifest,
    ingest_dataset,
    read_gold,
    read_weak_labels,
)
from alchemist_core.data.storage import Storage, open_storage  # noqa: E402
from alchemist_core.programs.curate import curate_programs  # noqa: E402
from alchemist_core.programs.label_matrix import coverage  # noqa: E402
from alchemist_core.programs.program_set import save_program_set  # noqa: E402
from alchemist_core.report.metrics import classification_metrics  # noqa: E402
from alchemist_core.selection import ValidFolds  # noqa: E402
from alchemist_core.spec import TaskSpec, load_spec, parse_spec  # noqa: E402

logger = logging.getLogger("benchmarks.quality")

REPO = Path(__file__).resolve().parents[1]
LLM_STYLE = REPO / "benchmarks" / "programs"
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_CACHE = Path("~/.cache/alchemist/quality").expanduser()
SPECS = REPO / "alchemist_core" / "specs"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Skew:
    """A harder variant of a shipped dataset: a few of its classes at set shares, few of its labeling functions.

    In every split, all rows of the first class are kept and the others are sampled
    (``RandomState(0)``) to ``shares`` relative to it; votes for the classes left out become
    abstentions, and every ``lf_stride``-th labeling function is kept.
    """

    classes: tuple[str, ...]
    shares: tuple[float, ...]
    lf_stride: int = 1


@dataclass(frozen=True)
class Benchmark:
    """One dataset: where it lives and which metric the paper reports for it."""

    name: str
    folder: str  # relative to the data folder (or absolute)
    metric: str  # "accuracy" or "binary_f1": what is chosen on and compared with the paper
    carved: bool = False  # no train / valid / test ships: carve them from the rows there are
    spec: Path | None = None  # the task spec; by default the shipped one named like the dataset
    skew: Skew | None = None  # a variant of the dataset in ``folder`` (whose spec is ``spec``)

    @property
    def spec_path(self) -> Path:
        return self.spec if self.spec is not None else SPECS / f"{self.name}.yaml"


BENCHMARKS: dict[str, Benchmark] = {
    "youtube": Benchmark("youtube", "wrench/youtube", "accuracy"),
    "sms": Benchmark("sms", "wrench/sms", "binary_f1"),
    "trec": Benchmark("trec", "wrench/trec", "accuracy"),
    "semeval": Benchmark("semeval", "wrench/semeval", "accuracy"),
    "chemprot": Benchmark("chemprot", "wrench_partial/chemprot", "accuracy", carved=True),
    "medabs": Benchmark("medabs", "extra/medabs", "accuracy", carved=True),
    # Imbalanced 3-class data with partial coverage, where choosing by accuracy alone collapses
    # to the largest class: TREC's ENTY / HUM / LOC questions at 69 / 20 / 11 %, a third of its
    # labeling functions.
    "trec-skewed": Benchmark(
        "trec-skewed", "wrench/trec", "accuracy", spec=SPECS / "trec.yaml",
        skew=Skew(("ENTY", "HUM", "LOC"), (0.69, 0.20, 0.11), lf_stride=3),
    ),
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

# The flow's student settings (alchemist_core.config.StudentConfig), with the selection on.
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
    "max_train_rows": 200_000,
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


def prepare_dataset(benchmark: Benchmark, data_root: Path, cache: Storage) -> Prepared:
    """Ingest the dataset (once; later runs find it by digest) and read every split."""
    from alchemist_core.students.features import row_texts

    spec = load_spec(benchmark.spec_path)
    fields = list(spec.input_fields)
    folder = data_root / benchmark.folder
    if not folder.is_dir():
        raise FileNotFoundError(f"expected the {benchmark.name} data at {folder}")
    storage = cache.child("datasets", benchmark.name)
    note = ""
    with tempfile.TemporaryDirectory(prefix="alchemist-skew-") as scratch:
        if benchmark.skew is not None:
            spec, folder, note = skewed_variant(benchmark, spec, folder, Path(scratch))
        manifest = ingest_dataset(str(folder), storage, fields=fields, format="wrench", class_names=spec.class_names, name=benchmark.name)
    if benchmark.carved:
        from alchemist_core.data.carve import carve_dataset

        shipped = {split: info.n_rows for split, info in manifest.splits.items()}
        storage = cache.child("datasets", f"{benchmark.name}-carved")
        manifest = carve_dataset(cache.child("datasets", benchmark.name), storage, seed=0)
        counts = {split: info.n_rows for split, info in manifest.splits.items()}
        note = (
            f"{benchmark.name}: ships {shipped}; carved with RandomState(0) into "
            f"{counts['train']} unlabeled pool / {counts['valid']} valid / {counts['test']} test rows"
        )
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


def skewed_variant(benchmark: Benchmark, spec: TaskSpec, folder: Path, out: Path) -> tuple[TaskSpec, Path, str]:
    """Write ``benchmark.skew``'s variant of the WRENCH folder ``folder`` to ``out``; its spec and a note."""
    skew = benchmark.skew
    assert skew is not None
    if len(skew.classes) != len(skew.shares) or len(skew.classes) < 2:
        raise ValueError(f"{benchmark.name}: expected one share per kept class (two or more); got {skew}")
    names = json.loads((folder / "label.json").read_text(encoding="utf-8"))
    index_of = {name: int(k) for k, name in names.items()}
    missing = [c for c in skew.classes if c not in index_of]
    if missing:
        raise ValueError(f"{benchmark.name}: classes {missing} are not in {folder / 'label.json'} ({sorted(index_of)})")
    new_index = {index_of[c]: i for i, c in enumerate(skew.classes)}
    rng = np.random.RandomState(0)
    counts = {}
    for split in SPLITS:
        rows = json.loads((folder / f"{split}.json").read_text(encoding="utf-8"))
        by_class: dict[int, list[str]] = {old: [] for old in new_index}
        for key, row in rows.items():
            if row["label"] in by_class:
                by_class[row["label"]].append(key)
        n_first = len(by_class[index_of[skew.classes[0]]])
        keep: set[str] = set()
        for c, share in zip(skew.classes, skew.shares):
            members = by_class[index_of[c]]
            n = min(len(members), round(n_first * share / skew.shares[0]))
            keep.update(members[i] for i in sorted(rng.choice(len(members), size=n, replace=False)))
        variant = {}
        for key, row in rows.items():
            if key in keep:
                votes = [new_index.get(v, -1) for v in row["weak_labels"][:: skew.lf_stride]]
                variant[key] = {**row, "label": new_index[row["label"]], "weak_labels": votes}
        (out / f"{split}.json").write_text(json.dumps(variant), encoding="utf-8")
        counts[split] = len(variant)
    (out / "label.json").write_text(json.dumps({str(i): c for i, c in enumerate(skew.classes)}), encoding="utf-8")
    data = spec.model_dump(mode="json", exclude_none=True)
    data["name"] = benchmark.name
    data["classes"] = [c for c in data["classes"] if c["name"] in skew.classes]
    data["classes"].sort(key=lambda c: skew.classes.index(c["name"]))
    data["instruction"] = f"{data['instruction']} Only these classes occur here: {', '.join(skew.classes)}."
    shares = " / ".join(f"{c} {share:.0%}" for c, share in zip(skew.classes, skew.shares))
    note = (
        f"{benchmark.name}: {folder.name} with {shares} (RandomState(0)), one labeling function in {skew.lf_stride}: "
        + ", ".join(f"{n} {split}" for split, n in counts.items()) + " rows"
    )
    return parse_spec(data, source=benchmark.name), out, note


# -- program sources --------------------------------------------------------------------------


@dataclass
class Votes:
    """The votes of one program source on every split (and, per fold, of the fold's own programs)."""

    source: str
    family: str  # "human" or "generated"
    names: list[str]
    L: dict[str, np.ndarray]
    digests: list[str] | None = None
    note: str = ""
    seconds: float = 0.0
    folds: list["Votes"] | None = None  # programs regenerated without each fold (offline generator)


def human_votes(prepared: Prepared) -> Votes | None:
    """The dataset's own labeling functions (WRENCH ``weak_labels``), ``None`` when it has none."""
    L = {split: read_weak_labels(prepared.data, split) for split in SPLITS}
    if any(m is None or m.shape[1] == 0 for m in L.values()):
        return None
    names = [f"weak_{j:02d}" for j in range(L["train"].shape[1])]
    return Votes("human", "human", names, L)


def generated_votes(
    prepared: Prepared, source: str, cache: Storage, *, seed: int, folds: ValidFolds | None = None,
    programs_dir: Path | None = None,
) -> Votes:
    """Programs from the offline generator or a folder, applied to every split.

    A generator that learns from labeled rows (the offline one) is also rerun once per fold of
    ``folds``, without that fold's valid rows; those programs are applied to the train and valid
    splits (the test split is never needed for a choice).
    """
    from alchemist_core.generators.build import generation_context
    from alchemist_core.generators.library import LibraryGenerator
    from alchemist_core.generators.offline import OfflineGenerator
    from alchemist_core.programs.sandbox import SandboxLimits
    from alchemist_core.students.features import embed_with_cache

    started = time.perf_counter()
    embeddings = cache.child("embeddings")
    limits = SandboxLimits(program_seconds=120.0)
    if source == "offline":
        generator = OfflineGenerator(limits=limits, encoder=lambda texts: embed_with_cache(texts, embeddings))
    elif source == "llm-style":
        generator = LibraryGenerator(LLM_STYLE / prepared.benchmark.name)
    else:
        generator = LibraryGenerator(programs_dir)

    def generate(valid_rows: Sequence[str] | None):
        context = generation_context(
            prepared.spec, prepared.manifest, prepared.data, fields=prepared.fields, n_programs=10, n_sample=500,
            seed=seed, valid_rows=valid_rows,
        )
        result = generator.generate(context)
        if not len(result.program_set):
            raise ValueError(f"the {source} source wrote no valid program for {prepared.benchmark.name}")
        return context, result

    context, result = generate(None)
    program_set = result.program_set
    save_program_set(program_set, cache.child("runs", f"{prepared.benchmark.name}-{source}"), "programs")
    note = ""
    if result.fitted_to_labeled_rows:
        note = (
            f"{source} generator saw the gold labels of {len(context.labeled_rows)} valid rows and "
            f"{len(context.sample_rows)} unlabeled train rows; {len(result.rejected)} candidates rejected"
        )
    L = {split: _apply(prepared, split, program_set, cache, limits) for split in SPLITS}
    fold_votes = None
    if result.fitted_to_labeled_rows and folds is not None:
        labeled_ids = prepared.row_ids["valid"][prepared.gold["valid"] >= 0]
        fold_votes = []
        for k in range(folds.n_folds):
            _, fold_result = generate(list(labeled_ids[folds.labeled(k)]))
            fold_set = fold_result.program_set
            fold_L = {split: _apply(prepared, split, fold_set, cache, limits) for split in ("train", "valid")}
            fold_votes.append(Votes(source, "generated", list(fold_set.names), fold_L, [p.digest for p in fold_set]))
        note += f"; regenerated once per fold ({folds.n_folds} folds), each without its fold's valid rows"
    return Votes(
        source, "generated", list(program_set.names), L, [p.digest for p in program_set], note,
        time.perf_counter() - started, fold_votes,
    )


def _apply(prepared: Prepared, split: str, program_set, cache: Storage, limits) -> np.ndarray:
    import pyarrow as pa

    from alchemist_core.programs.apply import label_partition
    from alchemist_core.programs.votes import add_program_features

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
    return {
        "accuracy": metrics["accuracy"], "f1": f1, "macro_f1": metrics["macro_f1"],
        "binary_f1": metrics.get("binary_f1", f1),
    }


def _student_predictions(prepared: Prepared, labels, run: Storage, cache: Storage, choice, settings, seed: int):
    """Fit ``choice`` on every labeled row (the flow's final refit); returns its predictions table on test."""
    from alchemist_core.students.training import distill_and_predict

    shards = {split: list(prepared.manifest.splits[split].shards) for split in SPLITS}
    distill_and_predict(
        pseudolabels=labels, data=prepared.data, shards=shards, fields=prepared.fields, settings=settings,
        splits={"train": "train", "valid": "valid", "test": "test"}, cache=cache, run=run, seed=seed, choice=choice,
    )
    return run.read_table("student", "predictions", "test.parquet")


def evaluate_source(
    prepared: Prepared, votes: Votes, cache: Storage, *, seed: int, student_settings: Mapping[str, Any], folds: ValidFolds
) -> dict[str, Any]:
    """Out-of-fold selection, then the refit on every labeled row, for one program source."""
    from alchemist_core.labelmodel.aggregate import probs_to_preds
    from alchemist_core.labelmodel.pseudolabels import (
        final_label_table,
        pseudolabel_table,
    )
    from alchemist_core.programs.vote_shards import votes_table
    from alchemist_core.selection import (
        BLEND_FINAL,
        LABEL_MODEL_FINAL,
        FoldVotes,
        fit_label_model,
        resolve_metric,
        select,
    )
    from alchemist_core.students.training import (
        StudentChoice,
        _Inputs,
        _student_config,
        student_candidates,
    )

    bench, spec = prepared.benchmark, prepared.spec
    n_classes = spec.n_classes
    run = cache.child("runs", f"{bench.name}-{votes.source}")
    for split in SPLITS:
        # The flow's layout, so a run's votes can be inspected (or re-read) like a pipeline run's.
        run.write_table(votes_table(prepared.row_ids[split], votes.L[split], votes.names), "votes", split, "shard-00000.parquet")
    labeled = np.flatnonzero(prepared.gold["valid"] >= 0)
    y, y_test = prepared.gold["valid"][labeled], prepared.gold["test"]
    metric = resolve_metric(spec.metric, y, n_classes, spec.class_names)
    settings = {**student_settings, "metric": metric.name}
    params = {"snorkel": {"n_epochs": 500}}

    started = time.perf_counter()
    fold_votes = [
        FoldVotes(tuple(v.names), v.L["train"], v.L["valid"][labeled], tuple(v.digests) if v.digests else None)
        for v in (votes.folds or [votes])
    ]
    inputs = _Inputs(
        {"train": prepared.texts["train"], "valid": [prepared.texts["valid"][i] for i in labeled]},
        "train", cache, settings["encoder"], settings.get("device"),
    )
    selection = select(
        fold_votes, folds, y, n_classes, inputs, metric=metric, seed=seed,
        student_candidates=student_candidates(settings), config=_student_config(settings), label_model_params=params,
        n_jobs=None,
    )
    selection_seconds = time.perf_counter() - started

    # The refit on every labeled row: curation, the chosen label model, the chosen student.
    curation = curate_programs(
        votes.L["train"], votes.names, n_classes=n_classes, L_labeled=votes.L["valid"][labeled], y_labeled=y,
        digests=votes.digests,
    )
    keep = [votes.names.index(name) for name in curation.keep]
    L = {split: matrix[:, keep] for split, matrix in votes.L.items()}
    model = fit_label_model(selection.label_model, L["train"], L["valid"][labeled], y, n_classes, seed=seed, params=params)
    posterior = {split: model.predict_proba(L[split]) for split in SPLITS}
    lm_pred = probs_to_preds(posterior["test"], tie_break="wrench")
    labels = {
        split: [run.write_table(pseudolabel_table(prepared.row_ids[split], posterior[split], L[split]), "labels", split, "shard-00000.parquet")]
        for split in SPLITS
    }
    started = time.perf_counter()
    student = _student_predictions(prepared, labels, run, cache, StudentChoice.parse(selection.student), settings, seed)
    fallback = student
    if selection.fallback_student != selection.student:
        fallback = _student_predictions(prepared, labels, run.child("fallback"), cache, StudentChoice.parse(selection.fallback_student), settings, seed)
    pseudo_test = pseudolabel_table(prepared.row_ids["test"], posterior["test"], L["test"])
    # What the flow's final-labels stage writes, for each way the final labels can be made.
    final_of = {use: final_label_table(pseudo_test, fallback, use=use).column("label").to_numpy() for use in ("label model", "blend")}
    student_pred = student.column("label").to_numpy()
    lm_alone = final_of["label model"]
    supervised = [c for c in selection.candidates if c.role == "supervised"]
    best_supervised = max(supervised, key=lambda c: c.score(selection.chosen_by)) if supervised else None
    supervised_test = None
    if best_supervised is not None:
        if best_supervised.name == selection.student:
            supervised_pred = student_pred
        else:
            supervised_pred = _student_predictions(
                prepared, labels, run.child("supervised"), cache, StudentChoice.parse(best_supervised.name), settings, seed
            ).column("label").to_numpy()
        supervised_test = _scores(y_test, supervised_pred, n_classes)
    final_pred = {LABEL_MODEL_FINAL: lm_alone, BLEND_FINAL: final_of["blend"]}.get(selection.winner, student_pred)
    student_seconds = time.perf_counter() - started
    winner = selection.winner_score
    return {
        "dataset": bench.name,
        "metric": metric.name,
        "metric_reason": metric.reason,
        "paper_metric": bench.metric,
        "source": votes.source,
        "family": votes.family,
        "n_programs": len(votes.names),
        "n_kept": len(keep),
        "dropped": dict(curation.dropped),
        "coverage": coverage(L["train"]),
        "label_model": selection.label_model,
        "label_model_test": _scores(y_test, lm_pred, n_classes),
        "label_model_alone_test": _scores(y_test, lm_alone, n_classes),
        "supervised": None if best_supervised is None else best_supervised.name,
        "supervised_test": supervised_test,
        "student": selection.student,
        "student_test": _scores(y_test, student_pred, n_classes),
        "blend_test": _scores(y_test, final_of["blend"], n_classes),
        "winner": selection.winner,
        "chosen_by": selection.chosen_by,
        "final_test": _scores(y_test, final_pred, n_classes),
        "estimate": {"accuracy": winner.accuracy, "macro_f1": winner.macro_f1, "binary_f1": winner.binary_f1},
        "corrected": dict(selection.corrected),
        "interval": selection.interval,
        "selection": selection.to_json(),
        "selection_seconds": round(selection_seconds, 1),
        "student_seconds": round(student_seconds, 1),
        "program_seconds": round(votes.seconds, 1),
        "note": votes.note,
    }


# -- the table --------------------------------------------------------------------------------


def _published(dataset: str, family: str, stage: str) -> str:
    value = PUBLISHED.get((dataset, family, stage))
    return "—" if value is None else f"{value[0]:.3f} [{value[1]}]"


FLOOR_TOLERANCE = 0.005
ESTIMATE_TOLERANCE = 0.03


def checks(row: Mapping[str, Any]) -> dict[str, bool]:
    """The issue's rules on one result row, by the run's metric: the floor, and an honest estimate."""
    metric = row["metric"]
    final = row["final_test"][metric]
    floors = [row["label_model_alone_test"][metric]]
    if row["supervised_test"] is not None:
        floors.append(row["supervised_test"][metric])
    return {
        "floor": final >= max(floors) - FLOOR_TOLERANCE,
        "estimate": abs(row["estimate"][metric] - final) <= ESTIMATE_TOLERANCE,
    }


def _interval(row: Mapping[str, Any]) -> str:
    interval = row.get("interval")
    return "" if not interval else f" ({interval[0]:.3f} to {interval[1]:.3f})"


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The results as Markdown: the final labels against their floors, then the published comparison."""
    header = (
        "| dataset | source | programs kept/all | coverage | metric | label model | LM alone | supervised "
        "| winner | final acc | final macro-F1 | final (metric) | out-of-fold (metric) | corrected (metric) | floor | estimate |"
    )
    lines = [header, "|" + "---|" * 16]
    for row in rows:
        metric = row["metric"]
        supervised = row["supervised_test"]
        ok = checks(row)
        lines.append(
            f"| {row['dataset']} | {row['source']} | {row['n_kept']}/{row['n_programs']} | {row['coverage']:.3f} "
            f"| {metric} | {row['label_model']} | {row['label_model_alone_test'][metric]:.3f} "
            f"| {'—' if supervised is None else f'{supervised[metric]:.3f}'} | {row['winner']} "
            f"| {row['final_test']['accuracy']:.3f} | {row['final_test']['macro_f1']:.3f} | {row['final_test'][metric]:.3f} "
            f"| {row['estimate'][metric]:.3f}{_interval(row)} | {row['corrected'][metric]:.3f} "
            f"| {'yes' if ok['floor'] else 'NO'} | {'yes' if ok['estimate'] else 'NO'} |"
        )
    lines += [
        "",
        "| dataset | source | LM acc | LM F1 | LM published | student | student acc | student F1 | student published |",
        "|" + "---|" * 9,
    ]
    for row in rows:
        paper = row["paper_metric"]
        lm, st = row["label_model_test"], row["student_test"]

        def cell(scores: Mapping[str, float], key: str) -> str:
            starred = (key == "accuracy") == (paper == "accuracy")
            return f"{scores[key]:.3f}" + ("*" if starred else "")

        lines.append(
            f"| {row['dataset']} | {row['source']} | {cell(lm, 'accuracy')} | {cell(lm, 'f1')} "
            f"| {_published(row['dataset'], row['family'], 'label_model')} | {row['student']} | {cell(st, 'accuracy')} "
            f"| {cell(st, 'f1')} | {_published(row['dataset'], row['family'], 'student')} |"
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
    from alchemist_core.selection import make_folds

    cache = open_storage(str(cache_dir))
    rows, notes = [], []
    for benchmark in benchmarks:
        name = benchmark.name
        prepared = prepare_dataset(benchmark, data_root, cache)
        if prepared.note:
            notes.append(prepared.note)
        gold_valid = prepared.gold["valid"]
        folds = make_folds(gold_valid[gold_valid >= 0], seed=seed)
        for source in sources:
            if source == "human":
                votes = human_votes(prepared)
                if votes is None:
                    notes.append(f"{name}: no human labeling functions; 'human' skipped")
                    continue
            elif source in ("offline", "folder", "llm-style"):
                if source == "llm-style" and not (LLM_STYLE / name).is_dir():
                    notes.append(f"{name}: no llm-style programs in {LLM_STYLE / name}; skipped")
                    continue
                votes = generated_votes(prepared, source, cache, seed=seed, folds=folds, programs_dir=programs_dir)
            else:
                raise ValueError(f"unknown program source {source!r}; expected human, offline, llm-style or folder")
            if votes.note:
                notes.append(f"{name}: {votes.note}")
            row = evaluate_source(prepared, votes, cache, seed=seed, student_settings=student_settings, folds=folds)
            if row["dropped"]:
                notes.append(f"{name}/{source}: curation dropped " + "; ".join(f"{k}: {v}" for k, v in row["dropped"].items()))
            for warning in row["selection"]["warnings"]:
                notes.append(f"{name}/{source}: {warning}")
            logger.info("%s", json.dumps({k: v for k, v in row.items() if k not in ("dropped", "selection")}, default=str))
            rows.append(row)
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="youtube,sms,trec,semeval,chemprot,medabs,trec-skewed")
    parser.add_argument(
        "--sources", default="human,offline,llm-style", help="human, offline, llm-style, and folder (with --programs-dir)"
    )
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
        from alchemist_core.students.training import DEFAULT_STUDENT_CANDIDATES

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
    print("First table: test scores by the run's metric (the spec's, else accuracy or macro-F1, see the notes);")
    print("'LM alone' is the label model where programs vote and the student elsewhere; 'supervised' the best model")
    print("trained on the labeled valid rows only; 'out-of-fold' the winner's score on the folds, with its 95% bootstrap")
    print("interval; 'corrected' that score corrected for the choice among the candidates (bootstrap bias-corrected CV);")
    print("floor: final >= both - 0.005; estimate: |out-of-fold - test| <= 0.03.")
    print("Second table: * marks the metric the paper reports (binary F1 of the spam class for sms);")
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
