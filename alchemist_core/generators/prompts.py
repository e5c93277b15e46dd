"""The pure ends of the LLM step: render prompts, read programs and labels out of replies.

The code prompt follows the paper's three-part template (task description, labeling
instructions, function signature) and adds the program contract that the sandbox enforces.
Two-stage prompting puts supplementary information (a dataset and class description,
exemplars, keywords or labeling rules) *before* the task description, behind a fixed lead-in,
as the paper does. Nothing here does I/O: messages are plain ``{"role", "content"}`` dicts.

Examples
--------
>>> extract_program_source("Here:\\n```python\\ndef label(x):\\n    return -1\\n```")
'def label(x):\\n    return -1\\n'
>>> parse_annotation_reply("[1, 0, -1]", n_rows=3, n_classes=2)
[1, 0, -1]
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from alchemist_core.errors import AlchemistError, ProgramError
from alchemist_core.spec import TaskSpec

if TYPE_CHECKING:
    from alchemist_core.images.concepts import ConceptSet

SUPPLEMENT_KINDS = ("description", "exemplars", "keywords", "rules")
"""Kinds of supplementary information, as in the paper (Sec. 3.1)."""

ALLOWED_IMPORTS_IN_PROMPT = (
    "re", "math", "string", "collections", "itertools", "functools", "statistics", "unicodedata",
)  # fmt: skip

# What stage one asks for, in the words of the reference prompts (also the retrieval query).
SUPPLEMENT_REQUESTS = {
    "description": "a dataset and class description: what the data looks like and what characterises each class",
    "exemplars": "5 data examples for each class, written as realistic inputs and grouped by class",
    "keywords": "keywords and short phrases that indicate each class, grouped by class",
    "rules": "labeling heuristics, rules, and guidance that tell the classes apart",
}

_SUPPLEMENT_TITLES = {
    "description": "dataset and class description",
    "exemplars": "data examples",
    "keywords": "keywords",
    "rules": "labeling rules",
}

# Variant 0 is the paper's plain prompt; later variants nudge samples towards different cues,
# because temperature alone gives near-duplicate programs (PAPER.md, "Design gaps").
_VARIANT_HINTS = (
    "",
    "Prefer precise keyword and phrase patterns, and abstain when none of them match.",
    "Use regular expressions over the text.",
    "Use simple text statistics (length, capitalisation, punctuation, links, digits) together with words.",
    "Combine several weak cues and return a class only when they agree.",
)

MAX_FIELD_CHARS = 2000
"""Longest field value shown to the annotator in :func:`annotate_messages`; longer ones are cut."""


class AnnotationReplyError(AlchemistError, ValueError):
    """An annotation reply is not a JSON list with one valid class index per row."""


# -- pieces shared by the prompts ----------------------------------------------------------------
def _class_lines(spec: TaskSpec) -> str:
    lines = []
    for index, spec_class in enumerate(spec.classes):
        description = f": {spec_class.description}" if spec_class.description else ""
        lines.append(f"- {index} = {spec_class.name}{description}")
    return "\n".join(lines)


def _field_list(spec: TaskSpec) -> str:
    return ", ".join(f"x[{name!r}]" for name in spec.input_fields)


def program_contract(spec: TaskSpec) -> str:
    """The program contract stated in every code prompt (and checked by the sandbox)."""
    fields = _field_list(spec)
    imports = ", ".join(ALLOWED_IMPORTS_IN_PROMPT)
    valid = ", ".join(str(i) for i in range(spec.n_classes))
    return (
        "Program contract:\n"
        "- Write a Python module that defines `def label(x):`.\n"
        f"- `x` is a read-only mapping of the input fields: {fields}. A value may be None.\n"
        f"- `label(x)` returns an int: the class index ({valid}) from the list above, "
        "or -1 to abstain when unsure.\n"
        f"- Only these imports are allowed: {imports}.\n"
        "- No I/O (no files, network, printing or input), no dunder names (like __class__), "
        "no private attributes, no eval, exec, getattr, open, type or hash, no classes, "
        "no `with`, no `finally`, no global or nonlocal, no bare `except:`.\n"
        "- Reply with ONE ```python fenced code block containing the whole module."
    )


def _task_and_instructions(spec: TaskSpec) -> str:
    fields = _field_list(spec)
    return (
        "Task description:\n"
        f"Write a bug-free and executable Python labeling program for this task: {spec.instruction}\n\n"
        "Labeling instructions:\n"
        f"{_class_lines(spec)}\n"
        "- -1 = abstain: return -1 when the input does not clearly belong to one class.\n\n"
        "Function signature:\n"
        f"def label(x):  # x is a read-only mapping with {fields}"
    )


def supplement_from_spec(spec: TaskSpec, kind: str) -> str | None:
    """The supplementary information of ``kind`` the user put in the spec, rendered; ``None`` when absent.

    Parameters
    ----------
    spec : TaskSpec
    kind : str
        One of :data:`SUPPLEMENT_KINDS`.

    Returns
    -------
    str or None
        Text ready for :func:`code_messages`; when given, no stage-one call is needed.
    """
    _check_kind(kind)
    supplementary = spec.supplementary
    if kind == "description":
        return supplementary.description.strip() or None
    if kind == "rules":
        return "\n".join(f"- {rule}" for rule in supplementary.rules) or None
    mapping = supplementary.exemplars if kind == "exemplars" else supplementary.keywords
    if not mapping:
        return None
    blocks = []
    for index, name in enumerate(spec.class_names):
        items = mapping.get(name, [])
        if not items:
            continue
        if kind == "exemplars":
            blocks.append(f"{name} ({index}):\n" + "\n".join(f"- {item}" for item in items))
        else:
            blocks.append(f"{name} ({index}): " + ", ".join(items))
    return "\n".join(blocks) or None


def _check_kind(kind: str) -> None:
    if kind not in SUPPLEMENT_KINDS:
        raise ValueError(f"unknown supplementary information kind {kind!r}; expected one of {SUPPLEMENT_KINDS}")


# -- code prompts --------------------------------------------------------------------------------
def code_messages(
    spec: TaskSpec,
    *,
    supplement: str | None = None,
    supplement_kind: str | None = None,
    variant: int = 0,
) -> list[dict[str, str]]:
    """Messages asking for one labeling program.

    Parameters
    ----------
    spec : TaskSpec
    supplement : str, optional
        Supplementary information (two-stage prompting). It goes before the task description,
        behind a lead-in, as in the paper. ``None`` or blank gives the one-stage prompt.
    supplement_kind : str, optional
        Which kind ``supplement`` is (one of :data:`SUPPLEMENT_KINDS`); named in the lead-in.
    variant : int
        0 is the paper's plain prompt; other values add a hint that steers the sample towards
        different cues, for diversity across programs.

    Returns
    -------
    list of dict
        A system and a user message.

    Examples
    --------
    >>> from alchemist_core.spec import parse_spec
    >>> spec = parse_spec({"name": "t", "instruction": "Is it spam?", "classes": [{"name": "ham"}, {"name": "spam"}]})
    >>> [m["role"] for m in code_messages(spec)]
    ['system', 'user']
    """
    if variant < 0:
        raise ValueError(f"variant must be >= 0, got {variant}")
    if supplement_kind is not None:
        _check_kind(supplement_kind)
    system = (
        f"You are a helpful assistant who writes labeling programs in Python for this task: {spec.instruction} "
        "Be creative, consider conditions globally and wisely, and write bug-free code."
    )
    parts = []
    if supplement is not None and supplement.strip():
        title = _SUPPLEMENT_TITLES.get(supplement_kind or "", "supplementary information")
        parts.append(
            f"Here is some useful information ({title}) that may help you write the program:\n\n"
            f"{supplement.strip()}"
        )
    parts.append(_task_and_instructions(spec))
    hint = _VARIANT_HINTS[1 + (variant - 1) % (len(_VARIANT_HINTS) - 1)] if variant else ""
    if hint:
        parts.append(hint)
    parts.append(program_contract(spec))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def supplement_messages(spec: TaskSpec, kind: str, *, retrieved: Sequence[str] = ()) -> list[dict[str, str]]:
    """Stage one: messages asking the LLM for supplementary information of ``kind``.

    Parameters
    ----------
    spec : TaskSpec
    kind : str
        One of :data:`SUPPLEMENT_KINDS`.
    retrieved : sequence of str
        Passages retrieved from the user's documents, shown as context.

    Returns
    -------
    list of dict
    """
    _check_kind(kind)
    request = SUPPLEMENT_REQUESTS[kind]
    system = (
        f"You are a helpful assistant. Generate {request} to help users categorise data for this task: "
        f"{spec.instruction}"
    )
    parts = [
        f"Task: {spec.instruction}",
        f"Classes:\n{_class_lines(spec)}",
        f"Each input has these fields: {', '.join(spec.input_fields)}.",
    ]
    passages = [p.strip() for p in retrieved if p and p.strip()]
    if passages:
        joined = "\n---\n".join(passages)
        parts.append(f"Excerpts from the user's documents (use them where relevant):\n---\n{joined}\n---")
    parts.append(f"Write {request}. Be concise (under 300 words) and do not write code.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def repair_messages(
    previous_messages: Sequence[Mapping[str, str]], reply: str, error: str
) -> list[dict[str, str]]:
    """The conversation so far plus the rejected reply and a request to fix ``error``.

    Parameters
    ----------
    previous_messages : sequence of dict
        The messages that produced ``reply``.
    reply : str
        The assistant's reply that was rejected.
    error : str
        Why it was rejected (a syntax error, a policy violation, a failing smoke run, ...).

    Returns
    -------
    list of dict
    """
    error_text = error.strip()
    if len(error_text) > 2000:
        error_text = error_text[:2000] + " ..."
    request = (
        f"That program was rejected: {error_text}\n\n"
        "Fix the problem and reply with the complete corrected module in ONE ```python fenced block. "
        "The contract is unchanged: define `def label(x):`, return a class index or -1, "
        "and use only the allowed imports and constructs."
    )
    return [
        *({"role": m["role"], "content": m["content"]} for m in previous_messages),
        {"role": "assistant", "content": reply},
        {"role": "user", "content": request},
    ]


# A fence, its info string, then everything up to the closing fence or the end of the reply
# (a reply cut off by max_tokens has no closing fence; its code then fails validation and is
# sent back for repair rather than silently lost).
_FENCE = re.compile(r"^[ \t]*```[ \t]*([^\n`]*)\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_DEFINES_LABEL = re.compile(r"^def[ \t]+label[ \t]*\(", re.MULTILINE)
_PYTHON_TAGS = {"", "python", "python3", "py"}


def extract_program_source(reply: str) -> str:
    """The first ```python (or bare ```) fenced block of ``reply`` that defines ``label``.

    Parameters
    ----------
    reply : str
        The LLM's reply.

    Returns
    -------
    str
        The block's text, ending with a newline.

    Raises
    ------
    ProgramError
        When no such block exists (unlike the reference code, the whole reply is never used as code).
    """
    text = reply or ""
    for match in _FENCE.finditer(text):
        tag = match.group(1).strip().lower().split()[0] if match.group(1).strip() else ""
        body = match.group(2)
        if tag in _PYTHON_TAGS and _DEFINES_LABEL.search(body):
            return body.rstrip() + "\n"
    preview = text[:200].replace("\n", " ")
    raise ProgramError(f"reply has no fenced Python block defining label(x); first 200 chars: {preview!r}")


# -- zero-shot annotation (the paper's baseline) -------------------------------------------------
def _row_line(number: int, row: Mapping[str, Any], fields: Sequence[str]) -> str:
    def show(value: Any) -> str:
        text = "" if value is None else " ".join(str(value).split())
        return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS] + " ..."

    if len(fields) == 1:
        return f"Row {number}: {show(row.get(fields[0]))}"
    return f"Row {number}: " + "; ".join(f"{name}={show(row.get(name))}" for name in fields)


def annotate_messages(spec: TaskSpec, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Messages asking the LLM to label ``rows`` directly (zero-shot, batched).

    Each row is one line, ``Row <i>: <fields>``, with whitespace collapsed and values longer
    than :data:`MAX_FIELD_CHARS` cut. The reply must be a JSON list of class indices.

    Parameters
    ----------
    spec : TaskSpec
    rows : sequence of mappings
        Rows with (at least) the spec's input fields.

    Returns
    -------
    list of dict
    """
    n_rows = len(rows)
    lines = "\n".join(_row_line(i + 1, row, spec.input_fields) for i, row in enumerate(rows))
    user = (
        f"Task: {spec.instruction}\n\n"
        f"Classes:\n{_class_lines(spec)}\n\n"
        f"Label each of the {n_rows} rows below. Reply with only a JSON list of {n_rows} integers, "
        "the class index of each row in order, for example [0, 1, 0]. "
        "Use -1 only when a row gives no basis for any class.\n\n"
        f"{lines}"
    )
    return [
        {"role": "system", "content": "You are a careful data annotator. You answer with JSON only."},
        {"role": "user", "content": user},
    ]


_JSON_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_annotation_reply(reply: str, n_rows: int, n_classes: int) -> list[int]:
    """The labels in an annotation reply: a JSON list of ``n_rows`` ints in ``-1..n_classes-1``.

    The list may sit in a fenced block or among other text; anything else is an error.

    Raises
    ------
    AnnotationReplyError
        When the reply holds no JSON list, or the list has the wrong length or a bad element.
    """
    text = (reply or "").strip()
    fenced = _JSON_FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("["), text.rfind("]")
    expected = f"expected a JSON list of {n_rows} class indices in -1..{n_classes - 1}"
    if start < 0 or end < start:
        raise AnnotationReplyError(f"{expected}; the reply has no list: {reply[:200]!r}")
    try:
        values = json.loads(text[start : end + 1])
    except json.JSONDecodeError as error:
        shown = text[start : end + 1][:200]
        raise AnnotationReplyError(f"{expected}; the list is not valid JSON ({error.msg}): {shown!r}") from None
    if len(values) != n_rows:
        raise AnnotationReplyError(f"{expected}; got {len(values)} values")
    labels = []
    for position, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value < n_classes:
            raise AnnotationReplyError(f"{expected}; value {position + 1} is {value!r}")
        labels.append(value)
    return labels


# -- image concepts (the paper's multimodal extension) -------------------------------------------
_CONCEPT_VARIANT_HINTS = (
    "",
    "Rely on the one or two concepts you expect to be most reliable, and abstain otherwise.",
    "Average each class's scores over all concepts and vote only when one class leads by a clear margin.",
    "Vote only when at least two concepts agree on the same class.",
    "Compare pairs of scores of the same concept with a margin (for example 0.2) instead of a fixed threshold.",
)


def concept_messages(spec: TaskSpec, *, n_concepts: int, subject: str | None = None) -> list[dict[str, str]]:
    """Messages asking for visual concepts that tell the classes apart, as JSON.

    Each concept gets one short description per class; the pipeline turns each into a CLIP
    prompt ("a photo of a <subject> whose <concept> is <description>"). The reply must be a
    concept file (see :mod:`alchemist_core.images.concepts`).

    Parameters
    ----------
    spec : TaskSpec
    n_concepts : int
        How many concepts to ask for.
    subject : str, optional
        What the images show ("bird"); the LLM names it when ``None``.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> from alchemist_core.spec import parse_spec
    >>> spec = parse_spec({"name": "birds", "instruction": "Is the bird a landbird or a waterbird?",
    ...                    "classes": [{"name": "landbird"}, {"name": "waterbird"}], "input_fields": ["image"]})
    >>> '"landbird": "' in concept_messages(spec, n_concepts=5)[1]["content"]
    True
    """
    if n_concepts < 1:
        raise ValueError(f"n_concepts must be >= 1, got {n_concepts}")
    names = ", ".join(json.dumps(name) for name in spec.class_names)
    example = {
        "subject": subject or "<one or two words: what the images show>",
        "concepts": [
            {"name": "<visual concept>", "descriptions": {name: f"<how it looks in a {name}>" for name in spec.class_names}},
        ],
    }
    subject_line = f"The images show a {subject}. " if subject else ""
    user = (
        f"Task: {spec.instruction}\n\n"
        f"Classes:\n{_class_lines(spec)}\n\n"
        f"{subject_line}List {n_concepts} visual primitive concepts that tell these classes apart in an image: "
        "parts, shapes, proportions, colours, textures or patterns of the object itself. Describe the object, "
        "not its surroundings or background: those can be misleading. For each concept, give one short "
        "description (2 to 6 words) of how it looks in each class, contrasting the classes.\n\n"
        "Each description is read by an image-text model as the sentence "
        "\"a photo of a <subject> whose <concept> is <description>\".\n\n"
        "Reply with ONE JSON object in a ```json fenced block, of this form:\n"
        f"{json.dumps(example, indent=2)}\n\n"
        f"Every concept needs a description for every class, keyed by exactly these class names: {names}."
    )
    return [
        {"role": "system", "content": "You are a computer vision expert. You answer with JSON only."},
        {"role": "user", "content": user},
    ]


def concept_repair_messages(
    previous_messages: Sequence[Mapping[str, str]], reply: str, error: str, class_names: Sequence[str]
) -> list[dict[str, str]]:
    """The conversation so far plus the rejected concept reply and a request to fix ``error``."""
    names = ", ".join(json.dumps(name) for name in class_names)
    request = (
        f"That reply was rejected: {error.strip()[:2000]}\n\n"
        "Reply again with ONE JSON object in a ```json fenced block: a \"subject\" string and a \"concepts\" "
        "list whose entries have a \"name\" and \"descriptions\" mapping every class name to a short "
        f"description. The class names are exactly: {names}."
    )
    return [
        *({"role": m["role"], "content": m["content"]} for m in previous_messages),
        {"role": "assistant", "content": reply},
        {"role": "user", "content": request},
    ]


def concept_program_messages(spec: TaskSpec, concept_set: "ConceptSet", *, variant: int = 0) -> list[dict[str, str]]:
    """Messages asking for one labeling program over an image's concept scores.

    As in the paper's second prompt: the scores are floats near 1 when the image strongly
    matches a description and near 0 when it does not; the program returns -1 when it
    cannot decide, and uses the scores cautiously.

    Parameters
    ----------
    spec : TaskSpec
    concept_set : ConceptSet
        The concepts; their score names are the program's input fields.
    variant : int
        0 is the plain prompt; other values add a hint towards a different way of combining
        the scores, for diversity across programs.

    Returns
    -------
    list of dict
    """
    if variant < 0:
        raise ValueError(f"variant must be >= 0, got {variant}")
    score_names = concept_set.score_names
    lines = []
    for concept in concept_set.concepts:
        lines.append(f"- {concept.name}:")
        for class_name, description in zip(concept_set.class_names, concept.descriptions):
            lines.append(f"  - x[{concept.key + ':' + class_name!r}]: {class_name} -> {description}")
    scores = (
        f"Each image was scored by an image-text model (CLIP) against visual concepts of a {concept_set.subject}. "
        "For every concept and class, the score is a float between 0 and 1: near 1 when the image matches that "
        "class's description of the concept much better than the other classes' descriptions, near 0 when it does "
        "not. The scores of one concept add up to 1 over the classes. The scores are noisy, so use them "
        "cautiously and return -1 when the evidence is unclear.\n\n"
        "Concepts, and the score of each class's description:\n" + "\n".join(lines)
    )
    score_spec = spec.model_copy(update={"input_fields": score_names})
    system = (
        f"You are a helpful assistant who writes labeling programs in Python for this task: {spec.instruction} "
        "The programs read concept scores of an image, not the image itself. Write bug-free code."
    )
    parts = [scores, _task_and_instructions(score_spec)]
    hint = _CONCEPT_VARIANT_HINTS[1 + (variant - 1) % (len(_CONCEPT_VARIANT_HINTS) - 1)] if variant else ""
    if hint:
        parts.append(hint)
    parts.append(program_contract(score_spec))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]
