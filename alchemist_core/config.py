"""The run configuration: one typed model, loadable from YAML, overridable by CLI flags.

The same model is the parameter of the Prefect flows and deployments, so the Prefect UI
shows a form for it. Secrets never live here: API keys and cloud credentials come from the
environment only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError

# Settings that say where and how a run executes, not what it computes.
EXECUTION_ONLY = frozenset({"run_id", "storage", "dask"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def identity(self) -> dict[str, Any]:
        """What a cache key sees of these settings: all of them but where and how the run executes."""
        return self.model_dump(mode="json", exclude=set(EXECUTION_ONLY & set(type(self).model_fields)))


class DataConfig(_Section):
    """Where the data is and how to read it."""

    source: str = Field("demo", description="Path or URL of a CSV, JSONL, Parquet file/folder or WRENCH folder; 'demo' for the built-in demo dataset")
    format: Literal["csv", "jsonl", "parquet", "wrench"] | None = Field(None, description="Input format; guessed from the path when empty")
    fields: list[str] | None = Field(None, description="Input fields programs may read; the spec's input_fields when empty")
    label_field: str | None = Field("label", description="Gold-label column, kept aside for evaluation only")
    id_field: str | None = Field(None, description="Unique row-id column; row positions when empty")
    split_field: str | None = Field(None, description="Column naming each row's split (train/valid/test)")
    shard_rows: int = Field(50_000, ge=100, description="Rows per Parquet shard")
    train_split: str = Field("train", description="Name of the split the programs label and the student learns from")
    valid_split: str = Field("valid", description="Name of the labeled split every choice is made on (out of fold)")
    test_split: str = Field("test", description="Name of the split that is only scored, never chosen on")
    split_fractions: list[float] | None = Field(
        None,
        min_length=3,
        max_length=3,
        description=(
            "Carve train, valid and test with these fractions (e.g. 0.72, 0.08, 0.2) from all rows, by a seeded "
            "permutation; a dataset with a single split is carved with 0.72, 0.08, 0.2 when empty"
        ),
    )
    split_seed: int = Field(0, description="Seed of the carve (split_fractions)")

    @field_validator("split_fractions")
    @classmethod
    def _fractions(cls, fractions: list[float] | None) -> list[float] | None:
        if fractions is None:
            return None
        from alchemist_core.data.carve import check_fractions

        return list(check_fractions(fractions))  # raises InputError (a ValueError) naming what is wrong


class LLMConfig(_Section):
    """An OpenAI-compatible endpoint, for text and images alike; the key comes from the environment variable ``api_key_env``."""

    base_url: str | None = Field(None, description="Endpoint base URL (e.g. http://127.0.0.1:8000/v1 for vLLM); OpenAI when empty")
    model: str = Field("gpt-4o-mini", description="Model that writes programs (and is priced in the reports)")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (the key itself is never stored)")
    timeout: float = Field(60.0, gt=0, description="Seconds per request attempt")
    max_retries: int = Field(4, ge=0, description="Retries of a request after rate limits, timeouts and server errors")
    max_concurrency: int = Field(4, ge=1, description="Requests in flight at once")
    temperature: float = Field(0.7, description="Sampling temperature of calls that set none (stage one, concepts)")
    max_tokens: int = Field(1500, ge=1, description="Completion-token limit per call (also the worst case a budget allows for)")
    refresh: bool = Field(False, description="Ignore cached replies and sample again")
    budget_usd: float | None = Field(
        None, ge=0,
        description=(
            "Hard cap in dollars on this run's LLM calls for programs (and concepts): no call is sent that could "
            "take the run's spending past it; no cap when empty"
        ),
    )  # fmt: skip
    price_table: str | None = Field(
        None, description="YAML price table whose entries replace or add to the shipped one (same format as llm/prices.yaml)"
    )
    input_price_per_1m: float | None = Field(
        None, ge=0, description="Dollars per million prompt tokens of `model`, replacing any table; set with output_price_per_1m"
    )
    output_price_per_1m: float | None = Field(
        None, ge=0, description="Dollars per million completion tokens of `model`, replacing any table; set with input_price_per_1m"
    )

    @model_validator(mode="after")
    def _prices_together(self) -> "LLMConfig":
        if (self.input_price_per_1m is None) != (self.output_price_per_1m is None):
            raise ValueError(
                "input_price_per_1m and output_price_per_1m go together: give both prices of the model, or neither "
                f"(got input {self.input_price_per_1m}, output {self.output_price_per_1m})"
            )
        return self


class OpenAIConfig(LLMConfig):
    """The LLM program generator: its endpoint (every :class:`LLMConfig` key) and how programs are asked for."""

    supplement_model: str | None = Field(None, description="Model writing supplementary information; the code model when empty")
    supplement_kinds: list[str] = Field(
        default_factory=lambda: ["none", "description", "exemplars", "keywords", "rules"],
        description="Prompt kinds programs are spread over: none (one-stage) and the two-stage supplementary information kinds",
    )
    max_repairs: int = Field(2, ge=0, description="Times a failing program goes back to the LLM with its error before it is rejected")
    temperatures: list[float] = Field(
        default_factory=lambda: [0.7, 1.0], min_length=1,
        description="Sampling temperatures of program requests, alternated round by round of supplement kinds",
    )
    resample_rounds: int = Field(
        2, ge=0, le=10,
        description=(
            "Rounds of new candidates asked for when duplicates or rejections leave fewer programs than n_programs "
            "(each round asks for the shortfall, at most n_programs in all)"
        ),
    )
    documents: list[str] = Field(default_factory=list, description="User documents to retrieve supplementary information from")


class GeneratorConfig(_Section):
    """Which programs to label with."""

    kind: Literal["offline", "library", "openai", "weak_labels"] = Field(
        "offline", description="offline: synthesized, no LLM; library: a folder of programs; openai: an LLM; weak_labels: the dataset's own votes"
    )
    n_programs: int = Field(10, ge=1, le=500, description="Programs to write (an LLM is asked for this many; offline mines up to this many)")
    library_path: str | None = Field(None, description="Folder of program .py files (kind=library)")
    openai: OpenAIConfig | None = Field(
        None,
        description=(
            "The LLM endpoint and how programs are asked of it (kind openai): empty for the other kinds, "
            "and the defaults when kind is openai and it is left empty"
        ),
    )
    sample_rows: int = Field(500, ge=10, description="Unlabeled rows used for smoke runs and duplicate detection")


    @model_validator(mode="after")
    def _llm_where_it_applies(self) -> "GeneratorConfig":
        if self.kind == "openai" and self.openai is None:
            self.openai = OpenAIConfig()
        return self

    @property
    def llm(self) -> OpenAIConfig:
        """The LLM settings: the section when given, else the defaults (an offline run's report still prices one)."""
        return self.openai or OpenAIConfig()

class SandboxConfig(_Section):
    """Limits for running untrusted programs."""

    program_seconds: float = Field(30.0, gt=0, description="Wall-clock budget per program per shard")
    memory_mb: int = Field(2048, ge=128, description="Memory limit of the process that runs programs")


class LabelModelConfig(_Section):
    """How votes become pseudolabels."""

    name: Literal["auto", "majority", "weighted", "snorkel"] = Field(
        "auto", description="auto picks on the valid split (never test) by the spec's metric; majority when there are no valid labels"
    )
    use_valid_labels: bool = Field(
        True,
        description=(
            "Also try each model with the valid split's gold labels as its dev set (class prior, program accuracies), "
            "scored out of fold, and keep it where it scores better"
        ),
    )
    n_epochs: int = Field(500, ge=1, description="Training epochs of the Snorkel label model")
    max_fit_rows: int = Field(200_000, ge=100, description="The label model is fitted on a seeded sample of at most this many training rows")


class StudentConfig(_Section):
    """The distilled student."""

    enabled: bool = Field(True, description="Distil a student model from the pseudolabels (off: stop at the label model)")
    model: Literal["auto", "logreg", "mlp", "finetune"] = Field(
        "auto",
        description=(
            "auto: fit every candidate and keep the best on the valid split (logreg when it has no labels); "
            "finetune: fine-tune the sentence encoder end to end (GPU-sized work)"
        ),
    )
    candidates: list[str] | None = Field(
        None,
        description="With auto: 'model/features/rows' names to choose among, e.g. logreg/tfidf/covered; the default grid when empty",
    )
    features: Literal["minilm", "tfidf"] = Field("minilm", description="Features of a fixed logreg or mlp student")
    max_train_rows: int | None = Field(
        200_000, ge=100, description="Fit on a seeded sample of at most this many training rows (all when empty); every row is predicted"
    )
    encoder: str = Field("minilm", description="'minilm' (shipped) or a local sentence-transformers folder")
    hidden: list[int] = Field(default_factory=lambda: [256], description="Hidden layer sizes of the MLP student")
    epochs: int = Field(30, ge=1, description="Training epochs of the MLP student")
    lr: float = Field(1e-3, gt=0, description="Learning rate of the MLP student")
    batch_size: int = Field(128, ge=1, description="Rows per training batch of the MLP student")
    covered_only: bool = Field(True, description="A fixed student trains on covered rows only (auto chooses the rows too)")
    confidence_weighting: bool = Field(True, description="Weight each training row by the label model's confidence")
    device: str | None = Field(None, description="cuda, cpu, or empty for a GPU when present")

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        if not names:
            raise ValueError("expected at least one 'model/features/rows' name, or no candidates for the default grid")
        from alchemist_core.students.training import StudentChoice

        for name in names:
            StudentChoice.parse(name)  # raises InputError (a ValueError) naming what is wrong
        return names


class SelectionConfig(_Section):
    """How every choice is made on the labeled valid rows: out of fold (see alchemist_core.selection)."""

    n_folds: int = Field(
        5, ge=2, le=20, description="Stratified folds of the labeled valid rows; each candidate is scored on the folds it never saw"
    )
    max_train_rows: int = Field(
        5_000, ge=100,
        description=(
            "Candidates compared out of fold are fitted on a seeded sample of at most this many training rows; "
            "the winner is then refitted on up to student.max_train_rows"
        ),
    )
    n_jobs: int | None = Field(
        None, ge=1, description="Worker processes fitting the candidates of every fold; empty: one per CPU core"
    )


class DaskConfig(_Section):
    """Where programs run."""

    address: str | None = Field(None, description="tcp://host:port of a Dask scheduler; 'synchronous' runs in-process; empty starts a LocalCluster")
    n_workers: int = Field(2, ge=1, description="Worker processes of the LocalCluster started when no address is given")
    shards_per_task: int = Field(4, ge=1, description="Shards per Prefect task: tens of tasks, not thousands")


class RunConfig(_Section):
    """Everything one run needs."""

    spec: str = Field("demo", description="Task spec YAML path, or the name of a shipped spec")
    data: DataConfig = Field(default_factory=DataConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    label_model: LabelModelConfig = Field(default_factory=LabelModelConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    dask: DaskConfig = Field(default_factory=DaskConfig)
    storage: str = Field("./alchemist-runs", description="Artifact root: a local folder or s3://bucket/prefix")
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="Run folder name; derived from the config when empty")
    seed: int = Field(0, description="Seed of every random choice: sampling, folds, LLM sample indices, training")

    @property
    def digest(self) -> str:
        """Digest of everything that changes results (the run id and storage root excluded)."""
        payload = self.model_dump(mode="json", exclude={"run_id", "storage"})
        payload["dask"] = {}  # where programs run does not change what they return
        return digest_json(payload)


def load_config_model(model: type[BaseModel], path: str | Path | None = None, overrides: dict[str, Any] | None = None, *, what: str = "config"):
    """Validate ``model`` from a YAML file (or defaults) with dotted ``overrides`` applied.

    Overrides whose value is ``None`` are skipped (an unset command-line flag). Errors name
    the file or the field, and say what was expected.
    """
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise InputError(f"expected a {what} YAML at {file}, found none")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise InputError(f"{file} is not valid YAML: {error}") from None
        if not isinstance(loaded, dict):
            raise InputError(f"{file}: expected a mapping of {what} sections, got {type(loaded).__name__}")
        data = loaded
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise InputError(f"invalid {what}: {problems}") from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a :class:`RunConfig` from YAML (or defaults) and apply dotted ``overrides``.

    Examples
    --------
    >>> load_config(overrides={"generator.kind": "offline", "seed": 3}).seed
    3
    """
    return load_config_model(RunConfig, path, overrides, what="run config")
