"""Visual concepts that tell the classes apart, and the CLIP text prompts made from them.

Programs over raw pixels latch onto spurious cues (a background colour), so for images the
LLM (or the user) names high-level visual concepts instead: for each concept, a short
description of how it looks in each class. Each (concept, class) description becomes a CLIP
text prompt, and a program reads the image's score against each prompt
(``x["wing_shape:waterbird"]``, see :mod:`alchemist_core.images.clip`).

The concept file
----------------
YAML or JSON, written by hand or returned by the LLM::

    subject: bird                      # optional: what the images show ("object" by default)
    template: "a photo of a {subject} whose {concept} is {description}"   # optional
    concepts:
      - name: wing shape
        descriptions:
          landbird: rounded, elliptical
          waterbird: long, pointed
      - name: bill
        descriptions: {landbird: short and compact, waterbird: long and streamlined}

``concepts`` may also be a mapping ``{concept name: {class name: description}}``. Every
concept needs a description for every class of the task; class names match exactly, or
ignoring case, spaces and underscores. A concept's key in score names is its name in lower
case with every run of other characters than letters and digits written ``_``.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import yaml

from alchemist_core.digest import digest_json
from alchemist_core.errors import InputError

if TYPE_CHECKING:
    from alchemist_core.data.storage import Storage

DEFAULT_SUBJECT = "object"
DEFAULT_TEMPLATE = "a photo of a {subject} whose {concept} is {description}"
TEMPLATE_FIELDS = ("subject", "concept", "description")
MAX_CONCEPTS = 64
MAX_TEXT_CHARS = 200
SCORE_SEPARATOR = ":"

_NOT_WORD = re.compile(r"[^0-9a-z]+")
_JSON_FENCE = re.compile(r"```[ \t]*(?:json|yaml)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Concept:
    """One visual concept: how it looks in each class.

    Parameters
    ----------
    name : str
        As written, e.g. ``"wing shape"``; used in the CLIP prompts.
    key : str
        The identifier in score names, e.g. ``"wing_shape"``.
    descriptions : tuple of str
        One per class, in class-index order.
    """

    name: str
    key: str
    descriptions: tuple[str, ...]


@dataclass(frozen=True)
class ConceptSet:
    """The concepts of one task, in order, with the classes they describe.

    Parameters
    ----------
    class_names : tuple of str
        The task's classes, in index order.
    concepts : tuple of Concept
    subject : str
        What the images show (``"bird"``); goes into every prompt.
    template : str
        The CLIP prompt for one (concept, class) description, with ``{subject}``,
        ``{concept}`` and ``{description}`` fields.
    source : str
        Where the concepts came from (``"llm"``, a file path, ``"demo"``); provenance only,
        not part of :attr:`digest`.

    Examples
    --------
    >>> concepts = parse_concepts(
    ...     {"subject": "bird", "concepts": {"wing shape": {"landbird": "rounded", "waterbird": "long, pointed"}}},
    ...     ["landbird", "waterbird"],
    ... )
    >>> concepts.score_names
    ['wing_shape:landbird', 'wing_shape:waterbird']
    >>> concepts.prompts[1]
    'a photo of a bird whose wing shape is long, pointed'
    """

    class_names: tuple[str, ...]
    concepts: tuple[Concept, ...]
    subject: str = DEFAULT_SUBJECT
    template: str = DEFAULT_TEMPLATE
    source: str = "file"

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def score_names(self) -> list[str]:
        """``"<concept key>:<class name>"`` for every concept and class, concept by concept."""
        return [f"{c.key}{SCORE_SEPARATOR}{name}" for c in self.concepts for name in self.class_names]

    @property
    def prompts(self) -> list[str]:
        """The CLIP text prompt of every score, in the order of :attr:`score_names`."""
        return [
            self.template.format(subject=self.subject, concept=c.name, description=description)
            for c in self.concepts
            for description in c.descriptions
        ]

    def to_json(self) -> dict[str, Any]:
        """The canonical concept file (what :func:`parse_concepts` reads back)."""
        return {
            "class_names": list(self.class_names),
            "subject": self.subject,
            "template": self.template,
            "concepts": [
                {"name": c.name, "descriptions": dict(zip(self.class_names, c.descriptions))} for c in self.concepts
            ],
        }

    @property
    def digest(self) -> str:
        """Digest of everything that changes the prompts or the score names."""
        return digest_json(self.to_json())


# -- validation -------------------------------------------------------------------------------


def concept_key(name: str) -> str:
    """The identifier of a concept name in score names.

    Examples
    --------
    >>> concept_key("Wing shape (outline)")
    'wing_shape_outline'
    """
    return _NOT_WORD.sub("_", name.lower()).strip("_")


def _normal(name: str) -> str:
    return "".join(name.replace("_", " ").lower().split())


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where} must be a non-empty string, got {value!r}")
    text = " ".join(value.split())
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{where} is {len(text)} characters long; expected at most {MAX_TEXT_CHARS}")
    return text


def _check_template(template: str, source: str) -> str:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise InputError(f"{source}: template {template!r} is not a valid format string: {error}") from None
    unknown = sorted({f for f in fields if f not in TEMPLATE_FIELDS})
    if unknown or "description" not in fields:
        raise InputError(
            f"{source}: template {template!r} must contain {{description}} and may contain only "
            f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}; found {fields}"
        )
    return template


def _match_classes(
    descriptions: Any, class_names: Sequence[str], concept: str, source: str
) -> tuple[str, ...]:
    if not isinstance(descriptions, Mapping):
        raise InputError(
            f"{source}: concept {concept!r} must map each class name to a description, got {type(descriptions).__name__}"
        )
    by_normal = {_normal(name): name for name in class_names}
    found: dict[str, str] = {}
    unknown = []
    for given, description in descriptions.items():
        name = str(given)
        match = name if name in class_names else by_normal.get(_normal(name))
        if match is None:
            unknown.append(name)
            continue
        if match in found:
            raise InputError(f"{source}: concept {concept!r} describes class {match!r} twice")
        found[match] = _text(description, f"{source}: the description of class {match!r} in concept {concept!r}")
    if unknown:
        raise InputError(
            f"{source}: concept {concept!r} names unknown classes {unknown}; expected exactly the task's classes "
            f"{list(class_names)}"
        )
    missing = [name for name in class_names if name not in found]
    if missing:
        raise InputError(
            f"{source}: concept {concept!r} lacks descriptions for classes {missing}; every concept needs one "
            f"description per class of {list(class_names)}"
        )
    return tuple(found[name] for name in class_names)


def parse_concepts(data: Any, class_names: Sequence[str], *, source: str = "<concepts>") -> ConceptSet:
    """Validate a concept file's content (see the module docstring) against the task's classes.

    Parameters
    ----------
    data : mapping
        The parsed YAML or JSON.
    class_names : sequence of str
        The task's classes, in index order.
    source : str
        Named in error messages, and recorded as the set's ``source``.

    Returns
    -------
    ConceptSet

    Raises
    ------
    InputError
        When ``data`` is not of the expected shape, names unknown classes or lacks one, has
        no concept, more than :data:`MAX_CONCEPTS`, two concepts with the same key, or an
        empty description.
    """
    class_names = tuple(str(name) for name in class_names)
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise InputError(f"expected at least two unique class names, got {list(class_names)}")
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: expected a mapping with a 'concepts' list (each with a name and per-class descriptions), "
            f"got {type(data).__name__}"
        )
    allowed = {"concepts", "subject", "template", "class_names"}
    if "concepts" not in data:
        raise InputError(
            f"{source}: expected a 'concepts' key holding a list of {{name, descriptions}} entries; "
            f"found keys {sorted(map(str, data))}"
        )
    extra = sorted(set(map(str, data)) - allowed)
    if extra:
        raise InputError(f"{source}: unexpected keys {extra}; a concept file holds only {sorted(allowed)}")
    given_classes = data.get("class_names")
    if given_classes is not None and [str(c) for c in given_classes] != list(class_names):
        raise InputError(
            f"{source} was written for classes {list(given_classes)}, but the task's classes are {list(class_names)}"
        )
    subject = _text(data.get("subject") or DEFAULT_SUBJECT, f"{source}: subject")
    template = _check_template(str(data.get("template") or DEFAULT_TEMPLATE), source)
    raw = data["concepts"]
    if isinstance(raw, Mapping):
        entries = [{"name": name, "descriptions": descriptions} for name, descriptions in raw.items()]
    elif isinstance(raw, list):
        entries = raw
    else:
        raise InputError(f"{source}: 'concepts' must be a list (or a mapping of name to descriptions), got {type(raw).__name__}")
    if not entries:
        raise InputError(f"{source}: 'concepts' is empty; expected at least one concept")
    if len(entries) > MAX_CONCEPTS:
        raise InputError(f"{source}: {len(entries)} concepts; expected at most {MAX_CONCEPTS}")
    concepts = []
    keys: dict[str, str] = {}
    for position, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or set(map(str, entry)) != {"name", "descriptions"}:
            shown = sorted(map(str, entry)) if isinstance(entry, Mapping) else type(entry).__name__
            raise InputError(
                f"{source}: concept #{position + 1} must have exactly the keys 'name' and 'descriptions', got {shown}"
            )
        name = _text(entry["name"], f"{source}: the name of concept #{position + 1}")
        key = concept_key(name)
        if not key:
            raise InputError(f"{source}: concept name {name!r} has no letter or digit; expected a readable name")
        if key in keys:
            raise InputError(f"{source}: concepts {keys[key]!r} and {name!r} share the key {key!r}; rename one")
        keys[key] = name
        concepts.append(Concept(name, key, _match_classes(entry["descriptions"], class_names, name, source)))
    return ConceptSet(class_names, tuple(concepts), subject, template, source)


def load_concept_file(path: str | Path, class_names: Sequence[str]) -> ConceptSet:
    """Read and validate a YAML or JSON concept file (JSON is valid YAML)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"expected a concept file (YAML or JSON) at {file}, found none")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"{file} is not valid YAML or JSON: {error}") from None
    return parse_concepts(data, class_names, source=str(file))


def save_concepts(concept_set: ConceptSet, storage: "Storage", *parts: str) -> str:
    """Write the canonical concept file as JSON (with its source) at ``parts``; returns the URI."""
    return storage.write_json({**concept_set.to_json(), "source": concept_set.source}, *parts)


def load_concepts(storage: "Storage", *parts: str) -> ConceptSet:
    """Read a concept file written by :func:`save_concepts`."""
    data = dict(storage.read_json(*parts))
    source = str(data.pop("source", storage.uri(*parts)))
    return parse_concepts(data, data.get("class_names") or (), source=source)


# -- from an LLM reply ------------------------------------------------------------------------


def parse_concept_reply(reply: str, class_names: Sequence[str]) -> ConceptSet:
    """The concept set in an LLM reply: a JSON object, fenced or among other text.

    Raises
    ------
    InputError
        When the reply holds no JSON object, or the object is not a valid concept file.

    Examples
    --------
    >>> reply = 'Sure!\\n```json\\n{"concepts": [{"name": "shape", "descriptions": {"a": "round", "b": "square"}}]}\\n```'
    >>> parse_concept_reply(reply, ["a", "b"]).score_names
    ['shape:a', 'shape:b']
    """
    text = (reply or "").strip()
    fenced = _JSON_FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    preview = (reply or "")[:200].replace("\n", " ")
    if start < 0 or end < start:
        raise InputError(f"the reply holds no JSON object; expected one concept object, got {preview!r}")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as error:
        raise InputError(f"the reply's JSON is malformed ({error.msg} at line {error.lineno}): {preview!r}") from None
    concept_set = parse_concepts(data, class_names, source="the LLM reply")
    return ConceptSet(concept_set.class_names, concept_set.concepts, concept_set.subject, concept_set.template, "llm")
