"""The typed references that pass between the pipeline's stages.

A reference says where an artifact is and what it holds, never the artifact itself: tasks
pass references, read what they need through them, and return new ones. Each reference owns
its identity (:meth:`Reference.identity`): what a cache key sees of it, its content digest
and location, so bookkeeping (timings, notes, counts) never invalidates a cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from alchemist_core.data.ingest import DatasetManifest
from alchemist_core.data.storage import Storage, open_storage
from alchemist_core.digest import combine
from alchemist_core.spec import TaskSpec

FaultTotals = dict[str, Any]
"""Per program: ``n_errors``, ``n_invalid``, ``timed_out``, ``quarantined``, ``first_error``, ``seconds``."""


class Reference(BaseModel):
    """A frozen, typed reference to an artifact of a run."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    def identity(self) -> Any:
        """What a cache key sees of this reference (the whole of it unless a subclass narrows it)."""
        return self.model_dump(mode="json")


class Splits(Reference):
    """Which of a dataset's splits a run trains on, chooses on and tests on."""

    train: str = "train"
    valid: str = "valid"
    test: str = "test"


class RunContext(Reference):
    """Where a run keeps its artifacts, its spec and its seed; what every stage of a run shares."""

    run_id: str
    storage_root: str
    run_root: str
    cache_root: str
    seed: int = 0
    spec: TaskSpec
    config_digest: str
    started_at: str
    alchemist_version: str
    python: str
    incarnation: str = ""
    """Made when the run folder is created and kept while it lives: results cached for a folder
    that was deleted are not served to the folder made again in its place."""

    @property
    def storage(self) -> Storage:
        return open_storage(self.storage_root)

    @property
    def run(self) -> Storage:
        return open_storage(self.run_root)

    @property
    def cache(self) -> Storage:
        return open_storage(self.cache_root)

    @property
    def n_classes(self) -> int:
        return self.spec.n_classes

    def info(self) -> dict[str, Any]:
        """The run's bookkeeping as written into ``manifest.json`` and read by the reports."""
        return {
            "run_id": self.run_id, "config_digest": self.config_digest, "spec_digest": self.spec.digest,
            "alchemist_version": self.alchemist_version, "python": self.python, "started_at": self.started_at,
            "spec": self.spec.model_dump(mode="json"), "storage_root": self.storage_root, "run_root": self.run_root,
            "cache_root": self.cache_root,
        }  # fmt: skip

    def progress_summary(self) -> str:
        return f"{self.run_id}"

    def identity(self) -> Any:
        return {
            "run_root": self.run_root, "incarnation": self.incarnation, "cache_root": self.cache_root, "seed": self.seed,
            "spec": self.spec.digest,
        }  # fmt: skip


class DatasetRef(Reference):
    """An ingested, content-addressed dataset, with the fields and splits the run reads."""

    root: str
    digest: str
    manifest: DatasetManifest
    fields: tuple[str, ...]
    splits: Splits

    @property
    def data(self) -> Storage:
        return open_storage(self.root)

    def shards(self) -> dict[str, list[str]]:
        """Split -> its data shards' URIs."""
        return {split: list(info.shards) for split, info in self.manifest.splits.items()}

    def identity(self) -> Any:
        return {"digest": self.digest, "uri": self.root, "fields": list(self.fields), "splits": self.splits.identity()}

    def progress_summary(self) -> str:
        rows = {split: info.n_rows for split, info in self.manifest.splits.items()}
        return f"{sum(rows.values()):,} rows: " + ", ".join(f"{split} {n:,}" for split, n in sorted(rows.items()))


class RejectedEntry(Reference):
    """A candidate program left out, and why."""

    name: str
    reason: str


class ProgramSetRef(Reference):
    """A stored program set (``programs/`` of a run), or none for a run on the dataset's own votes."""

    uri: str | None
    digest: str | None
    names: tuple[str, ...]
    rejected: tuple[RejectedEntry, ...] = ()
    n_duplicates: int = 0
    details: Mapping[str, Any] = {}
    valid_rows_seen: int = 0
    """Labeled valid rows the programs were fitted to: the choices then score each fold's own programs."""

    def program_digests(self) -> dict[str, str] | None:
        """Program name -> the digest of its source, from the stored manifest (``None`` without one)."""
        if not self.uri:
            return None
        return {entry["name"]: entry["digest"] for entry in Storage(self.uri).read_json("manifest.json")["programs"]}

    def identity(self) -> Any:
        return {"digest": self.digest, "uri": self.uri}

    def progress_summary(self) -> str:
        extra = [f"{len(self.rejected)} rejected"] if self.rejected else []
        extra += [f"{self.n_duplicates} duplicates"] if self.n_duplicates else []
        return f"{len(self.names)} programs" + (f", {', '.join(extra)}" if extra else "")


class ShardJob(Reference):
    """One data shard to label: where it is, its content digest, and where its votes go."""

    split: str
    shard: str
    shard_digest: str | None = None
    votes_uri: str


class ShardVotes(Reference):
    """What labeling one shard wrote: its vote file, the digest of its votes and each program's faults."""

    uri: str
    n_rows: int
    digest: str | None
    computed: tuple[str, ...]
    """Programs that ran on the shard (the others' votes came from the vote cache)."""
    faults: Mapping[str, FaultTotals]


class ProgramInputs(Reference):
    """What programs read: the shards' storage root, the fields handed to them, the number of classes."""

    data_root: str
    fields: tuple[str, ...]
    n_classes: int


class VoteSet(Reference):
    """Every program's votes on every row, as vote shards per split, with the programs that count.

    ``active`` are the programs the label model aggregates: not quarantined (timed out or
    crashed), and after curation not dropped (``dropped``: name -> reason).
    """

    shards: Mapping[str, tuple[str, ...]]
    programs: tuple[str, ...]
    active: tuple[str, ...]
    digest: str | None
    faults: Mapping[str, FaultTotals] = {}
    quarantined: Mapping[str, str] = {}
    dropped: Mapping[str, str] = {}
    computed: Mapping[str, int] = {}
    n_rows: int = 0
    program_digests: Mapping[str, str] | None = None
    """Program name -> the digest of its source (tells duplicates apart); ``None`` for weak labels."""

    def split_shards(self, split: str) -> list[str]:
        return list(self.shards.get(split, ()))

    def identity(self) -> Any:
        if self.digest is None:
            return self.model_dump(mode="json", exclude={"faults", "computed"})
        return {"digest": self.digest, "active": list(self.active)}

    def progress_summary(self) -> str:
        text = f"{len(self.active)} of {len(self.programs)} programs on {self.n_rows:,} rows"
        return text + (f", {len(self.quarantined)} quarantined" if self.quarantined else "")


class LabelModelRef(Reference):
    """A fitted label model (pickled) and the programs whose votes it reads, in order."""

    uri: str
    digest: str
    name: str
    programs: tuple[str, ...]
    metric: str | None = None
    valid_scores: Mapping[str, float | None] = {}

    def identity(self) -> Any:
        return {"digest": self.digest, "uri": self.uri, "programs": list(self.programs)}

    def progress_summary(self) -> str:
        return f"{self.name} over {len(self.programs)} programs"


class PseudolabelSet(Reference):
    """The label model's pseudolabels and posteriors, one table per vote shard, per split."""

    shards: Mapping[str, tuple[str, ...]]
    digest: str | None
    """Of what they were computed from: the label model and the votes."""

    @classmethod
    def of(cls, shards: Mapping[str, list[str]], model: LabelModelRef, votes: VoteSet) -> PseudolabelSet:
        digest = combine(model.digest, votes.digest) if votes.digest else None
        return cls(shards={split: tuple(uris) for split, uris in shards.items()}, digest=digest)

    def identity(self) -> Any:
        return {"digest": self.digest, "shards": self.model_dump(mode="json")["shards"]}

    def progress_summary(self) -> str:
        return "pseudolabels of " + ", ".join(f"{split} ({len(uris)} shards)" for split, uris in sorted(self.shards.items()))


class StudentRef(Reference):
    """A trained (or stored) student and its predictions on every split."""

    uri: str
    predictions: Mapping[str, str] = {}
    digest: str | None = None
    """Of a stored student's files (a relabel run's source); ``None`` for one trained in this run."""
    fields: tuple[str, ...] = ()
    chosen: Mapping[str, str] = {}
    n_train_rows: int = 0
    device: str = "cpu"
    details: Mapping[str, Any] = {}

    def identity(self) -> Any:
        return self.model_dump(mode="json", include={"uri", "digest", "predictions", "chosen", "fields"})

    def progress_summary(self) -> str:
        chosen = "/".join(self.chosen.get(k, "?") for k in ("model", "features", "rows")) if self.chosen else "student"
        return f"{chosen}, trained on {self.n_train_rows:,} rows ({self.device})"


class FinalLabels(Reference):
    """``final/<split>.parquet``: per row, the label of the run's winner."""

    shards: Mapping[str, str]
    source: str
    """``student``, ``label model`` or ``blend``."""

    def progress_summary(self) -> str:
        return f"from {self.source}"


class RunOutputs(Reference):
    """Everything a text run produced, for its report."""

    programs: ProgramSetRef
    votes: VoteSet
    label_model: LabelModelRef
    pseudolabels: PseudolabelSet
    student: StudentRef | None = None
    selection: Any = None
    """The run's :class:`~alchemist_core.selection.Selection` (``None`` with too few labeled rows)."""
    final: FinalLabels | None = None


class RunReport(Reference):
    """A written report: its URI, the flat metrics, and the sections the report and artifacts show."""

    report: str
    summary: Mapping[str, Any]
    sections: Mapping[str, Any]
    html: str = ""
    """``report.html``: the report with its figures, one self-contained page."""

    def progress_summary(self) -> str:
        return self.report


class ProgramReview(Reference):
    """A written program review: per program its coverage and accuracy, the rejected ones, the LLM cost."""

    programs: tuple[Mapping[str, Any], ...]
    rejected: tuple[RejectedEntry, ...]
    cost: Mapping[str, Any] | None
    report: str

    def progress_summary(self) -> str:
        return self.report


class SourceRun(Reference):
    """A finished labeling run whose programs, label model and student a relabel run applies."""

    root: str
    run_id: str
    spec: TaskSpec
    fields: tuple[str, ...]
    sandbox: Any
    """The :class:`~alchemist_core.config.SandboxConfig` the programs run under."""
    programs: ProgramSetRef
    label_model: LabelModelRef
    student: StudentRef | None = None
    selection: Any = None
    """The run's out-of-fold choices (:class:`~alchemist_core.selection.Selection`), ``None`` for a run that made none."""

    def identity(self) -> Any:
        return {
            "root": self.root, "programs": self.programs.identity(), "label_model": self.label_model.identity(),
            "student": self.student.identity() if self.student else None, "sandbox": self.sandbox.model_dump(mode="json"),
            "fields": list(self.fields),
        }  # fmt: skip


class ImageDatasetRef(Reference):
    """An ingested image dataset (Parquet shards of image bytes or paths), with the splits the run reads."""

    root: str
    digest: str
    dataset: Any
    """The :class:`~alchemist_core.images.dataset.ImageDataset`: its manifest and what ingest skipped."""
    splits: Splits
    demo: bool = False

    @property
    def data(self) -> Storage:
        return open_storage(self.root)

    def identity(self) -> Any:
        return {"digest": self.digest, "uri": self.root, "splits": self.splits.identity(), "demo": self.demo}


class ConceptSetRef(Reference):
    """The concepts per class that CLIP scores images against (``concepts.json`` of the run)."""

    uri: str
    digest: str
    source: str
    score_names: tuple[str, ...]
    names: tuple[str, ...]

    def identity(self) -> Any:
        return {"digest": self.digest, "uri": self.uri}


class FeatureSetRef(Reference):
    """CLIP embeddings, concept scores and zero-shot probabilities of every image, per split."""

    root: str
    digest: str
    shards: Mapping[str, tuple[str, ...]]
    shard_digests: Mapping[str, tuple[str, ...]]
    score_names: tuple[str, ...]
    model: str
    """The CLIP model's identity (architecture, weights and their sha256)."""
    embedding_dim: int
    logit_scale: float
    n_rows: int
    concepts: str
    """The digest of the concepts scored."""

    def identity(self) -> Any:
        return {"digest": self.digest, "uri": self.root, "concepts": self.concepts, "model": self.model}


class ImageRunOutputs(Reference):
    """Everything an image run produced, for its report."""

    concepts: ConceptSetRef
    features: FeatureSetRef
    programs: ProgramSetRef
    votes: VoteSet
    label_model: LabelModelRef
    pseudolabels: PseudolabelSet
    student: StudentRef | None = None
    selection: Any = None
