"""The run report as Markdown: what was labeled, by which programs, how well, and at what cost.

:func:`render_report` takes one mapping shaped like :class:`ReportResults` (plain dicts and
lists, e.g. read back from JSON) and returns Markdown. Every section is optional and left out
when its key is missing. The output depends only on the input: no clock is read, and rows
appear in the order given.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Mapping, Sequence, TypedDict


class RunSection(TypedDict, total=False):
    run_id: str
    created: str  # shown as given; nothing is read from the clock
    config: Mapping[str, Any]  # nested settings, shown flattened as dotted keys


class DatasetSection(TypedDict, total=False):
    name: str
    digest: str
    n_classes: int
    class_names: Sequence[str]
    rows: Mapping[str, int]  # split name -> number of rows


class ProgramFaults(TypedDict, total=False):
    errors: int  # rows on which the program raised (it abstained there)
    invalid: int  # rows on which it returned something other than a class or ABSTAIN
    timed_out: int  # rows (or batches) on which it ran out of time


class ProgramRow(TypedDict, total=False):
    name: str
    origin: str  # e.g. "openai:gpt-4o", "offline", "human"
    coverage: float
    overlap: float
    conflict: float
    accuracy: Mapping[str, float | None]  # split name -> accuracy on the rows it votes on
    faults: ProgramFaults
    quarantined: str | None  # the reason, where the program was quarantined


class LabelModelSection(TypedDict, total=False):
    chosen: str
    metric: str  # the selection metric, e.g. "accuracy"
    scores: Mapping[str, float]  # candidate name -> score on the validation split


class StudentSection(TypedDict, total=False):
    chosen: str  # "model/features/rows", e.g. "logreg/tfidf/covered"
    metric: str  # the selection metric on the validation split
    scores: Mapping[str, float]  # candidate name -> score on the validation split (empty: fixed student)
    fit_rows: int  # training rows the student was trained on


class MetricRow(TypedDict, total=False):
    program_set: str  # which level of the program set, e.g. "10 programs" or "round 2"
    model: str  # "label model" or "student"
    split: str  # "valid" or "test"
    accuracy: float
    macro_f1: float
    binary_f1: float


class LedgerRow(TypedDict, total=False):
    price_known: bool  # False: the model is not in the price table (its dollars are not known)
    model: str
    prompt_tokens: int
    completion_tokens: int
    dollars: float
    cached: bool  # a cache hit: no request was sent


class FullLabelingEstimate(TypedDict, total=False):
    model: str
    pool: str  # the split priced: the training split, which `alchemist annotate` labels
    n_rows: int
    n_calls: int
    batch_size: int
    dollars: float  # estimated cost of labeling every row of the pool with this model
    price_known: bool  # False: the model is not in the price table, and dollars mean nothing
    price_table_date: str


class SamplingSection(TypedDict, total=False):
    requested: int  # programs asked for (n_programs)
    kept: int
    rounds: Sequence[Mapping[str, int]]  # per round: round, asked, accepted, rejected, duplicates
    duplicates: Sequence[Mapping[str, str]]  # name, duplicate_of, by ("source" or "votes")
    refused_by_budget: int
    budget: Mapping[str, float]  # cap_usd, spent_usd
    programs: Sequence[Mapping[str, Any]]  # per kept program: name, model, supplement_kind, temperature, seed, ...


class CostSection(TypedDict, total=False):
    ledger: Sequence[LedgerRow]
    full_labeling: FullLabelingEstimate


class GenerationSection(TypedDict, total=False):
    generator: str  # the generator's kind, e.g. "offline"
    valid_rows_seen: int  # valid rows the programs were fitted to (0: none)
    valid_split: str  # the valid split's name


class ReportResults(TypedDict, total=False):
    """Everything :func:`render_report` can show; every key is optional."""

    title: str
    run: RunSection
    dataset: DatasetSection
    programs: Sequence[ProgramRow]
    label_model: LabelModelSection
    student: StudentSection
    selection: Mapping[str, Any]  # Selection.to_json(): the out-of-fold choices (replaces label_model and student)
    metrics: Sequence[MetricRow]
    generation: GenerationSection  # shown as a caveat under the metrics when it fitted valid rows
    sampling: SamplingSection  # how an LLM generator's programs were asked for, kept and dropped
    cost: CostSection
    timings: Mapping[str, float]  # stage name -> seconds


_MISSING = "—"
# Past this many LLM calls the report shows only the per-model totals (ledger.jsonl has every call).
MAX_LEDGER_ROWS = 200


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return _MISSING if math.isnan(value) else f"{float(value):.{digits}f}"
    return _cell(value)


def _dollars(value: Any) -> str:
    if value is None:
        return _MISSING
    if 0 < value < 0.001:
        return f"${value:.6f}"  # a single cheap call would read $0.0001 or $0.0000
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _cell(value: Any) -> str:
    # A pipe or a line break inside a cell would break the Markdown table.
    return str(value).replace("|", "\\|").replace("\n", " ")


_NUMERIC_CELL = re.compile(r"^\**(at least )?[-+$]?[\d,.]+(×|%| s)?\**( ✓)?$")


def _column_alignment(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Right for a column whose every filled cell is a number (dollars, counts, scores), left for text."""
    align = []
    for j in range(len(header)):
        cells = [str(row[j]).strip() for row in rows if j < len(row) and str(row[j]).strip() not in ("", _MISSING)]
        align.append("right" if cells and all(_NUMERIC_CELL.match(c) for c in cells) else "left")
    return align


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    align = align or _column_alignment(header, rows)
    rule = ["---:" if a == "right" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items += _flatten(value, name + ".")
        else:
            items.append((name, value))
    return items


def _run_section(run: RunSection) -> str:
    lines = ["## Run", ""]
    if "run_id" in run:
        lines.append(f"- run id: `{run['run_id']}`")
    if "created" in run:
        lines.append(f"- created: {run['created']}")
    config = run.get("config")
    if config:
        lines += ["", _table(["setting", "value"], [[f"`{k}`", _cell(v)] for k, v in _flatten(config)], ["left", "left"])]
    return "\n".join(lines)


def _dataset_section(dataset: DatasetSection) -> str:
    lines = ["## Dataset", ""]
    if "name" in dataset:
        lines.append(f"- name: {dataset['name']}")
    if "digest" in dataset:
        lines.append(f"- digest: `{dataset['digest']}`")
    if "class_names" in dataset:
        names = ", ".join(f"{i} = {_cell(n)}" for i, n in enumerate(dataset["class_names"]))
        lines.append(f"- classes: {names}")
    elif "n_classes" in dataset:
        lines.append(f"- classes: {dataset['n_classes']}")
    rows = dataset.get("rows")
    if rows:
        lines += ["", _table(["split", "rows"], [[_cell(s), _number(n)] for s, n in rows.items()])]
    return "\n".join(lines)


def _program_section(programs: Sequence[ProgramRow]) -> str:
    splits: list[str] = []
    for program in programs:
        for split in program.get("accuracy", {}):
            if split not in splits:
                splits.append(split)
    header = ["program", "origin", "coverage", "overlap", "conflict"]
    header += [f"accuracy ({s})" for s in splits] + ["errors", "invalid", "timed out"]
    rows = []
    for program in programs:
        faults = program.get("faults", {})
        accuracy = program.get("accuracy", {})
        name = _cell(program.get("name", _MISSING)) + (" (quarantined)" if program.get("quarantined") else "")
        rows.append(
            [name, _cell(program.get("origin", _MISSING))]
            + [_number(program.get(key)) for key in ("coverage", "overlap", "conflict")]
            + [_number(accuracy.get(s)) for s in splits]
            + [_number(faults.get(key, 0)) for key in ("errors", "invalid", "timed_out")]
        )
    align = ["left", "left"] + ["right"] * (len(header) - 2)
    lines = [f"## Programs ({len(programs)})", "", _table(header, rows, align)]
    quarantined = [p for p in programs if p.get("quarantined")]
    if quarantined:
        lines += ["", "### Quarantined programs", ""]
        lines += [f"- `{p.get('name', _MISSING)}`: {_cell(p['quarantined'])}" for p in quarantined]
    return "\n".join(lines)


def _label_model_section(label_model: LabelModelSection) -> str:
    lines = ["## Label model", ""]
    if "chosen" in label_model:
        lines.append(f"Chosen: **{label_model['chosen']}**" + (
            f" (best out-of-fold {label_model['metric']} on the valid split)" if label_model.get("scores") and "metric" in label_model else ""
        ))
    scores = label_model.get("scores")
    if scores:
        metric = label_model.get("metric", "score")
        rows = [
            [_cell(name) + (" ✓" if name == label_model.get("chosen") else ""), _number(score)]
            for name, score in scores.items()
        ]
        lines += ["", _table(["candidate", f"out-of-fold {metric}"], rows)]
    return "\n".join(lines)


def _student_section(student: StudentSection) -> str:
    lines = ["## Student", ""]
    chosen = student.get("chosen", _MISSING)
    scores = student.get("scores") or {}
    how = f" (best validation {student['metric']})" if scores and "metric" in student else " (fixed in the config)"
    trained = f", trained on {_number(student['fit_rows'])} rows" if student.get("fit_rows") is not None else ""
    lines.append(f"Chosen: **{_cell(chosen)}**{how}{trained}.")
    if scores:
        rows = [[_cell(name) + (" ✓" if name == chosen else ""), _number(score)] for name, score in scores.items()]
        lines += ["", _table(["candidate", f"valid {student.get('metric', 'score')}"], rows)]
    return "\n".join(lines)


_ROLE_ORDER = ("blend", "label model", "student", "supervised")


def _candidate_rows(candidates: Sequence[Mapping[str, Any]], winner: str, metric: str, with_binary: bool) -> list[list[str]]:
    rows = []
    for candidate in candidates:
        shares = candidate.get("train_shares") or []
        largest = f"{max(shares):.0%}" if shares else _MISSING
        name = f"**{_cell(candidate['name'])}** ✓" if candidate["name"] == winner else _cell(candidate["name"])
        if candidate.get("note"):
            name += f" ({_cell(candidate['note'])})"
        cells = [name, _cell(candidate.get("role", _MISSING)), _number(candidate.get("accuracy")), _number(candidate.get("macro_f1"))]
        if with_binary:
            cells.append(_number(candidate.get("binary_f1")))
        cells += [largest, "collapsed" if candidate.get("collapsed") else ""]
        rows.append(cells)
    return rows


def selection_section(selection: Mapping[str, Any]) -> str:
    """How the final labels were chosen: every candidate's out-of-fold scores, the winner and its margins."""
    metric = selection.get("chosen_by", "accuracy")
    reason = (selection.get("metric") or {}).get("reason", metric)
    winner = selection.get("winner", _MISSING)
    candidates = selection.get("candidates") or []
    scores = {c["name"]: c for c in candidates}
    won = scores.get(winner, {})
    margins = selection.get("margins") or {}
    interval = selection.get("interval")
    corrected = selection.get("corrected") or {}
    labels = {"runner_up": "the runner-up", "label_model": "the label model", "supervised": "the supervised floor"}
    ahead = ", ".join(f"{labels[k]} by {v:+.4f}" for k, v in margins.items() if k in labels)
    described = {
        "label_model": "the label model (a student where no program votes)",
        "blend": "the blend (the label model and the student averaged where programs vote, the student elsewhere)",
    }.get(winner, winner)
    lines = [
        "## How the final labels were chosen",
        "",
        f"Every choice was made out of fold: the {_number(selection.get('n_labeled'))} labeled valid rows were cut into "
        f"{selection.get('n_folds')} stratified folds, and each candidate was fitted without a fold and scored on it"
        + (", with programs generated without that fold's rows" if selection.get("fold_programs") else "")
        + (f", on {_number(selection['n_train'])} training rows" if selection.get("n_train") else "")
        + "; no score below is in-sample.",
        "",
        f"- metric: {_cell(reason)}",
        f"- final labels from **{_cell(described)}**: out-of-fold {metric} {_number(won.get(metric))}"
        + (f" (95% interval {_number(interval[0])} to {_number(interval[1])})" if interval else "")
        + f"; accuracy {_number(won.get('accuracy'))}, macro-F1 {_number(won.get('macro_f1'))}"
        + (f"; ahead of {ahead}" if ahead else ""),
    ]
    if corrected and corrected.get(metric) is not None:
        lines.append(
            f"- corrected for having been picked among {len(candidates)} candidates: {metric} {_number(corrected[metric])} "
            "(a cautious figure: the final labels come from a refit on every labeled row, which tends to do a little "
            "better than the fold models)"
        )
    lines += [
        f"- label model: **{_cell(selection.get('label_model', _MISSING))}**",
    ]
    if selection.get("fallback_student"):
        lines.append(f"- student: **{_cell(selection['fallback_student'] if winner in ('label_model', 'blend') else winner)}**")
    for warning in selection.get("warnings") or []:
        lines.append(f"- **warning:** {_cell(warning)}")
    with_binary = any(c.get("binary_f1") is not None for c in [*candidates, *selection.get("label_models", [])])
    header = ["candidate", "role", "accuracy", "macro-F1"] + (["binary F1"] if with_binary else []) + ["largest class on train", "one class?"]
    align = ["left", "left"] + ["right"] * (len(header) - 3) + ["left"]
    lines += ["", "### Label models (out of fold)", ""]
    lines.append(_table(header, _candidate_rows(selection.get("label_models") or [], selection.get("label_model", ""), metric, with_binary), align))
    lines += ["", "### Final labels (out of fold)", ""]
    ordered = sorted(candidates, key=lambda c: _ROLE_ORDER.index(c.get("role")) if c.get("role") in _ROLE_ORDER else len(_ROLE_ORDER))
    lines.append(_table(header, _candidate_rows(ordered, winner, metric, with_binary), align))
    return "\n".join(lines)


def _metrics_section(metrics: Sequence[MetricRow]) -> str:
    with_binary = any("binary_f1" in row for row in metrics)
    header = ["program set", "model", "split", "accuracy", "macro-F1"] + (["binary F1"] if with_binary else [])
    rows = []
    for row in metrics:
        cells = [_cell(row.get(key, _MISSING)) for key in ("program_set", "model", "split")]
        cells += [_number(row.get("accuracy")), _number(row.get("macro_f1"))]
        if with_binary:
            cells.append(_number(row.get("binary_f1")))
        rows.append(cells)
    return "\n".join(["## Metrics", "", _table(header, rows, ["left", "left", "left"] + ["right"] * (len(header) - 3))])


def in_sample_caveat(generation: Mapping[str, Any] | None) -> str:
    """A warning that valid scores are in-sample, when the generator fitted programs to valid rows ('' otherwise)."""
    generation = generation or {}
    n_rows = int(generation.get("valid_rows_seen") or 0)
    if n_rows <= 0 or generation.get("valid_out_of_fold"):
        # Nothing shown on the valid split was scored in-sample: programs were regenerated per fold.
        return ""
    split = generation.get("valid_split") or "valid"
    generator = generation.get("generator") or "program"
    return (
        f"**In-sample valid scores.** The {generator} generator fitted its programs to {n_rows:,} labeled rows of the "
        f"`{split}` split. Scores on `{split}` (the programs', the label model's, the "
        f"student's) are therefore optimistic, and so are the choices made on them; the test split, where there is one, "
        "gives the honest figure."
    )


UNKNOWN_PRICE = "unknown price"
PRICE_HINT = "give --price-table FILE, or input_price_per_1m and output_price_per_1m in the config"


def ratio_text(numerator: float, denominator: float) -> str:
    """``numerator / denominator`` as a multiple: two significant digits below 10, whole numbers above.

    Examples
    --------
    >>> ratio_text(0.0009, 0.0016), ratio_text(3.0, 0.01), ratio_text(0.0152, 0.0101)
    ('0.56×', '300×', '1.5×')
    """
    ratio = numerator / denominator
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{float(f'{ratio:.2g}'):g}×"


def _cost_section(cost: CostSection) -> str:
    lines = ["## Cost", ""]
    ledger = cost.get("ledger", [])
    total = 0.0
    unknown_models: list[str] = []
    if ledger:
        # One row per model, in order of first appearance: a run can make hundreds of calls.
        by_model: dict[str, dict[str, float]] = {}
        for entry in ledger:
            stats = by_model.setdefault(
                str(entry.get("model", _MISSING)),
                {"calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "dollars": 0.0, "unknown": 0},
            )
            stats["calls"] += 1
            stats["cached"] += int(bool(entry.get("cached", False)))
            stats["prompt_tokens"] += int(entry.get("prompt_tokens", 0) or 0)
            stats["completion_tokens"] += int(entry.get("completion_tokens", 0) or 0)
            stats["dollars"] += float(entry.get("dollars", 0.0) or 0.0)
            stats["unknown"] += int(not entry.get("price_known", True) and not entry.get("cached", False))
        header = ["model", "calls", "cached", "prompt tokens", "completion tokens", "dollars"]
        rows = []
        for model, stats in by_model.items():
            if stats["unknown"]:
                unknown_models.append(model)
            rows.append(
                [_cell(model)]
                + [_number(int(stats[k])) for k in ("calls", "cached", "prompt_tokens", "completion_tokens")]
                + [UNKNOWN_PRICE if stats["unknown"] else _dollars(stats["dollars"])]
            )
        keys = ("calls", "cached", "prompt_tokens", "completion_tokens")
        totals = {k: sum(s[k] for s in by_model.values()) for k in keys}
        total = sum(s["dollars"] for s in by_model.values())
        total_text = _dollars(total)
        if unknown_models:
            total_text = UNKNOWN_PRICE if len(unknown_models) == len(by_model) else f"at least {total_text}"
        rows.append(["**total**"] + [f"**{_number(int(totals[k]))}**" for k in keys] + [f"**{total_text}**"])
        lines.append(_table(header, rows))
        if unknown_models:
            lines += ["", f"The price of {', '.join(f'`{_cell(m)}`' for m in unknown_models)} is unknown: it is not in the "
                      f"price table, so its calls are not counted in the dollars above; {PRICE_HINT}."]  # fmt: skip
    if ledger and len(ledger) <= MAX_LEDGER_ROWS:
        # Per call, in order: what each stage asked and what it cost.
        call_rows = [
            [
                str(i + 1),
                _cell(entry.get("purpose", _MISSING)),
                _cell(entry.get("model", _MISSING)),
                _number(int(entry.get("prompt_tokens", 0) or 0)),
                _number(int(entry.get("completion_tokens", 0) or 0)),
                UNKNOWN_PRICE if not entry.get("price_known", True) and not entry.get("cached")
                else _dollars(float(entry.get("dollars", 0.0) or 0.0)),
                "yes" if entry.get("cached") else "no",
                _number(entry.get("latency_s"), 2),
            ]
            for i, entry in enumerate(ledger)
        ]
        header = ["#", "purpose", "model", "prompt tokens", "completion tokens", "dollars", "cached", "seconds"]
        align = ["right", "left", "left", "right", "right", "right", "left", "right"]
        lines += ["", "Calls:", "", _table(header, call_rows, align)]
    estimate = cost.get("full_labeling")
    if estimate:
        sentence = _estimate_sentence(estimate, total if ledger else None, bool(unknown_models))
        lines += ["", sentence] if ledger else [sentence]
    return "\n".join(lines)


def _estimate_sentence(estimate: FullLabelingEstimate, spent: float | None, spent_unknown: bool) -> str:
    """What labeling the pool directly would cost, against what the run spent (one scope: this run's programs)."""
    model = _cell(estimate.get("model", "the same LLM"))
    n_rows = estimate.get("n_rows")
    pool = estimate.get("pool")
    rows_text = f"the {_number(n_rows)} rows of the `{_cell(pool)}` split" if pool else f"all {_number(n_rows)} rows"
    per_call = f", {estimate['batch_size']} rows per call" if estimate.get("batch_size") else ""
    if estimate.get("price_known") is False:
        return (f"Labeling {rows_text} directly with {model} (what `alchemist annotate` would do{per_call}) would take "
                f"about {_number(estimate.get('n_calls'))} calls, at an {UNKNOWN_PRICE}: {model} is not in the price table "
                f"(dated {estimate.get('price_table_date', _MISSING)}); {PRICE_HINT}.")  # fmt: skip
    dollars = estimate.get("dollars")
    sentence = (f"Labeling {rows_text} directly with {model} (what `alchemist annotate` would do{per_call}) "
                f"would cost about {_dollars(dollars)}")  # fmt: skip
    if spent is not None and dollars is not None and not spent_unknown:
        if spent > 0:
            sentence += f"; the programs of this run cost {_dollars(spent)}, so direct labeling would cost {ratio_text(dollars, spent)} as much"
        else:
            sentence += f"; the programs of this run cost {_dollars(spent)}"
    return sentence + "."


def sampling_section(sampling: SamplingSection) -> str:
    """How many programs were asked for and kept, what was dropped, and each program's sampling settings."""
    lines = ["## How the programs were generated", ""]
    rounds = sampling.get("rounds") or []
    kept = sampling.get("kept")
    asked = sum(int(r.get("asked", 0)) for r in rounds)
    lines.append(
        f"{_number(sampling.get('requested'))} programs requested, {_number(asked)} candidates asked for"
        + (f" in {len(rounds)} rounds" if len(rounds) > 1 else "")
        + f", {_number(kept)} kept."
    )
    if len(rounds) > 1:
        rows = [[str(r.get("round")), _number(r.get("asked")), _number(r.get("accepted")), _number(r.get("rejected")),
                 _number(r.get("duplicates"))] for r in rounds]  # fmt: skip
        lines += ["", "Rounds after the first asked for new candidates in place of the dropped ones:", "",
                  _table(["round", "asked", "kept", "rejected", "duplicates"], rows)]  # fmt: skip
    duplicates = sampling.get("duplicates") or []
    if duplicates:
        lines += ["", f"Duplicates dropped ({len(duplicates)}):", ""]
        lines += [f"- `{_cell(d['name'])}`: the same {d['by']} as `{_cell(d['duplicate_of'])}`" for d in duplicates]
    if sampling.get("refused_by_budget"):
        budget = sampling.get("budget") or {}
        lines += ["", f"The budget cap of {_dollars(budget.get('cap_usd'))} stopped {sampling['refused_by_budget']} "
                  f"candidate(s) before their call (spent {_dollars(budget.get('spent_usd'))})."]  # fmt: skip
    programs = sampling.get("programs") or []
    if programs:
        header = ["program", "model", "supplement", "temperature", "seed", "prompt variant", "repairs", "dollars", "cached"]
        rows = [
            [f"`{_cell(p.get('name'))}`", _cell(p.get("model", _MISSING)), _cell(p.get("supplement_kind", _MISSING)),
             _number(p.get("temperature"), 2), _number(p.get("seed")), _number(p.get("prompt_variant")), _number(p.get("repairs")),
             UNKNOWN_PRICE if p.get("price_known") is False and not p.get("cached") else _dollars(p.get("dollars")),
             "yes" if p.get("cached") else "no"]
            for p in programs
        ]  # fmt: skip
        lines += ["", "Each kept program with the settings it was sampled with (from the program manifest):", "",
                  _table(header, rows, ["left", "left", "left"] + ["right"] * 5 + ["left"])]  # fmt: skip
    return "\n".join(lines)


def _timings_section(timings: Mapping[str, float]) -> str:
    rows = [[_cell(stage), f"{seconds:,.1f}"] for stage, seconds in timings.items()]
    rows.append(["**total**", f"**{sum(timings.values()):,.1f}**"])
    return "\n".join(["## Timings", "", _table(["stage", "seconds"], rows)])


def render_report(results: Mapping[str, Any]) -> str:
    """Render a run's results as Markdown.

    Parameters
    ----------
    results : mapping shaped like :class:`ReportResults`
        Every key is optional; a missing or empty section is left out.

    Returns
    -------
    str
        Markdown ending with a newline; equal inputs give equal text.

    Examples
    --------
    >>> print(render_report({"title": "spam", "timings": {"apply": 1.5}}))
    # spam
    <BLANKLINE>
    ## Timings
    <BLANKLINE>
    | stage | seconds |
    | --- | ---: |
    | apply | 1.5 |
    | **total** | **1.5** |
    <BLANKLINE>
    """
    sections = [f"# {results.get('title', 'Alchemist run report')}"]
    chose_out_of_fold = bool(results.get("selection"))
    renderers = (
        ("run", _run_section),
        ("dataset", _dataset_section),
        ("programs", _program_section),
        ("sampling", sampling_section),
        ("selection", selection_section),
        ("label_model", None if chose_out_of_fold else _label_model_section),
        ("student", None if chose_out_of_fold else _student_section),
        ("metrics", _metrics_section),
        ("cost", _cost_section),
        ("timings", _timings_section),
    )
    # A run that chose out of fold scores nothing in-sample; other runs (images) say where they do.
    caveat = "" if chose_out_of_fold else in_sample_caveat(results.get("generation"))
    for key, render in renderers:
        if render is not None and results.get(key):
            sections.append(render(results[key]))
            if key == "metrics" and caveat:
                sections.append(caveat)
    return "\n\n".join(sections) + "\n"
