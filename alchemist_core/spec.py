"""The task spec: what to label, read from a YAML file.

A spec names the task, gives the instruction, the classes (name plus a one-line
description, in class-index order), the input fields a program may read, optional
supplementary information (a description, exemplars, keywords, rules) and optionally a few
labeled examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

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


class ClassSpec(BaseModel):
    """One class: its name and a one-line description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""


class Supplementary(BaseModel):
    """Optional supplementary information put into prompts and used by generators."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    # class name -> example texts
    exemplars: dict[str, list[str]] = Field(default_factory=dict)
    # class name -> keywords or phrases that suggest the class
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[str] = Field(default_factory=list)


class LabeledExample(BaseModel):
    """A labeled example: the input fields and the class name (or index)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, Any]
    label: str | int


class TaskSpec(BaseModel):
    """What to label. See ``alchemist_core/specs/*.yaml`` for complete examples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    instruction: str = Field(min_length=1)
    classes: list[ClassSpec] = Field(min_length=2)
    input_fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    supplementary: Supplementary = Field(default_factory=Supplementary)
    examples: list[LabeledExample] = Field(default_factory=list)
    metric: Literal["accuracy", "macro_f1", "binary_f1"] | None = Field(
        None,
        description=(
            "What every choice on the valid split is made by: accuracy, macro_f1, or binary_f1 (the F1 of the "
            "second class, for two classes only, e.g. spam). Empty: accuracy, or macro_f1 when there are more "
            "than two classes and the largest holds over half of the labeled valid rows"
        ),
    )

    @field_validator("classes")
    @classmethod
    def _unique_class_names(cls, classes: list[ClassSpec]) -> list[ClassSpec]:
        names = [c.name for c in classes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"class names must be unique, but {duplicates} appear more than once")
        return classes

    @model_validator(mode="after")
    def _known_class_references(self) -> "TaskSpec":
        names = set(self.class_names)
        for where, mapping in (("exemplars", self.supplementary.exemplars), ("keywords", self.supplementary.keywords)):
            unknown = sorted(set(mapping) - names)
            if unknown:
                raise ValueError(f"supplementary.{where} names unknown classes {unknown}; classes are {self.class_names}")
        for example in self.examples:
            self.class_index(example.label)
        if self.metric == "binary_f1" and self.n_classes != 2:
            raise ValueError(
                f"metric binary_f1 is the F1 of the second class and needs exactly 2 classes, "
                f"but {self.n_classes} are given; use accuracy or macro_f1"
            )
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_index(self, label: str | int) -> int:
        """The index of ``label`` (a class name or an index)."""
        if isinstance(label, int) and not isinstance(label, bool):
            if 0 <= label < self.n_classes:
                return label
            raise InputError(f"class index {label} is out of range; expected 0..{self.n_classes - 1}")
        try:
            return self.class_names.index(str(label))
        except ValueError:
            raise InputError(f"unknown class {label!r}; expected one of {self.class_names}") from None

    @property
    def digest(self) -> str:
        return digest_json(self.model_dump(mode="json"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


SPEC_EXAMPLE_HINT = (
    "a complete example is in README.md (\"Writing a task spec\") and in alchemist_core/specs/*.yaml; "
    "`alchemist spec init --data <your file>` writes one from your data"
)

FIELD_HINTS = {
    "name": "a short identifier: letters, digits, '_', '.', '-'",
    "instruction": "one or two sentences: what a row is and what to decide about it",
    "classes": "a list, in class-index order, of {name: ..., description: ...}, e.g. [{name: ham}, {name: spam}]",
    "input_fields": "a list of the column names programs may read, e.g. [text]",
    "supplementary": "a mapping with any of description, exemplars, keywords, rules",
    "examples": "a list of {fields: {<input field>: ...}, label: <class name>}",
    "metric": "one of accuracy, macro_f1, binary_f1, or empty",
}


def _problem(error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    top = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        import difflib

        known = list(TaskSpec.model_fields) if len(error["loc"]) == 1 else []
        close = difflib.get_close_matches(top, known, n=1, cutoff=0.5) if known else []
        maybe = f"; did you mean {close[0]!r}?" if close else ""
        listed = f" (the keys are {', '.join(known)})" if known else ""
        return f"{where}: unknown key{maybe}{listed}"
    hint = FIELD_HINTS.get(top)
    return f"{where}: {error['msg']}" + (f" (expected {hint})" if hint else "")


def parse_spec(data: Any, *, source: str = "<spec>") -> TaskSpec:
    """Validate a mapping as a :class:`TaskSpec`, with an error naming each field, what it expects, and an example."""
    if not isinstance(data, dict):
        raise InputError(
            f"{source}: expected a YAML mapping with name, instruction and classes; got {type(data).__name__}; {SPEC_EXAMPLE_HINT}"
        )
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_problem(e) for e in error.errors())
        raise InputError(f"{source} is not a valid task spec: {problems}; {SPEC_EXAMPLE_HINT}") from None


def load_spec(path: str | Path) -> TaskSpec:
    """Read a task spec from a YAML file (a path, or the name of a spec shipped with Alchemist)."""
    candidate = Path(path)
    if not candidate.exists():
        bundled = Path(__file__).parent / "specs" / f"{path}.yaml"
        if bundled.exists():
            candidate = bundled
        else:
            shipped = sorted(p.stem for p in (Path(__file__).parent / "specs").glob("*.yaml"))
            raise InputError(f"no task spec at {path!s}; give a YAML file or one of the shipped specs {shipped}")
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"{candidate} is not valid YAML: {error}") from None
    return parse_spec(data, source=str(candidate))
