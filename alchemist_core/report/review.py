"""A short report of a generated program set, for people who review programs before labeling.

Each program is run once more on the generator's sample (unlabeled training rows) and on the
labeled valid rows it was allowed to see: coverage and accuracy there say which programs
are worth reading first. The test split is never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from alchemist_core.data.storage import Storage
from alchemist_core.generators.base import GenerationContext
from alchemist_core.programs.program_set import ABSTAIN, ProgramSet
from alchemist_core.programs.sandbox import SandboxLimits


def _votes(rows: Sequence[Mapping[str, Any]], program_set: ProgramSet, n_classes: int, fields, limits, cache):
    from alchemist_core.programs.apply import label_partition
    from alchemist_core.programs.votes import add_program_features

    table = pa.Table.from_pylist([{f: row.get(f) for f in fields} for row in rows])
    run_fields = list(fields)
    if program_set.features:
        table = add_program_features(table, program_set.features, fields, cache)
        run_fields += list(program_set.features)
    return label_partition(table, program_set, n_classes, fields=run_fields, limits=limits)


def review_program_set(
    program_set: ProgramSet,
    context: GenerationContext,
    *,
    fields: Sequence[str],
    limits: SandboxLimits = SandboxLimits(),
    cache: Storage | None = None,
) -> list[dict[str, Any]]:
    """One row per program: origin, description, digest, coverage on the sample, accuracy on labeled rows.

    Returns
    -------
    list of dict
        ``name``, ``origin``, ``description``, ``digest`` (12 characters), ``sample_coverage``,
        ``labeled_accuracy`` (``None`` when it votes on no labeled row), ``labeled_votes``
        and ``faults`` (rows that raised or returned an invalid value, on both sets).
    """
    import numpy as np

    n_classes = context.spec.n_classes
    sample = _votes(context.sample_rows, program_set, n_classes, fields, limits, cache) if context.sample_rows else None
    labeled_rows = [row for row, _ in context.labeled_rows]
    gold = np.asarray([label for _, label in context.labeled_rows], dtype=np.int64)
    labeled = _votes(labeled_rows, program_set, n_classes, fields, limits, cache) if labeled_rows else None
    rows = []
    for j, program in enumerate(program_set):
        row: dict[str, Any] = {
            "name": program.name,
            "origin": ":".join(str(x) for x in (program.origin.get("generator", "?"), program.origin.get("model")) if x),
            "description": program.describe(),
            "digest": program.digest[:12],
            "sample_coverage": None,
            "labeled_accuracy": None,
            "labeled_votes": 0,
            "faults": 0,
        }
        for result in (sample, labeled):
            if result is not None:
                fault = result.faults.get(program.name)
                row["faults"] += (fault.n_errors + fault.n_invalid) if fault else 0
        if sample is not None and sample.n_rows:
            row["sample_coverage"] = round(float((sample.L[:, j] != ABSTAIN).mean()), 4)
        if labeled is not None:
            voted = labeled.L[:, j] != ABSTAIN
            row["labeled_votes"] = int(voted.sum())
            if voted.any():
                row["labeled_accuracy"] = round(float((labeled.L[voted, j] == gold[voted]).mean()), 4)
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def render_program_review(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    program_set_uri: str,
    program_set_digest: str,
    rejected: Sequence[Mapping[str, str]] = (),
    n_duplicates: int = 0,
    cost: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
) -> str:
    """The review as Markdown: the programs table, how they were sampled, what was rejected and why, what it cost."""
    from alchemist_core.report.render import PRICE_HINT, sampling_section

    lines = [
        f"# {title}",
        "",
        f"{len(rows)} programs in `{program_set_uri}` (program set `{program_set_digest[:16]}`); "
        f"{len(rejected)} rejected, {n_duplicates} duplicates dropped.",
        "",
        "Coverage is measured on the generator's sample of unlabeled training rows, accuracy on the "
        "labeled valid rows it saw (never the test split). Edit or delete programs, then label with "
        "`--generator library --library <this folder>`.",
        "",
        "| program | origin | coverage | accuracy | labeled votes | faults | digest | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [f"`{row['name']}`", row["origin"], row["sample_coverage"], row["labeled_accuracy"], row["labeled_votes"],
                 row["faults"], f"`{row['digest']}`", row["description"]]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if sampling:
        lines += ["", sampling_section(sampling)]
    if rejected:
        lines += ["", "## Rejected", ""] + [f"- `{r['name']}`: {r['reason']}" for r in rejected]
    if cost:
        unknown = int(cost.get("price_unknown", 0))
        dollars = f"${float(cost.get('dollars', 0.0)):.4f}"
        if unknown:
            dollars = f"at least {dollars}: the price of {unknown} call(s) is unknown (their model is not in the price table; {PRICE_HINT})"
        lines += [
            "",
            "## Cost",
            "",
            f"{cost.get('calls', 0)} LLM calls ({cost.get('cached_calls', 0)} from the cache), "
            f"{cost.get('prompt_tokens', 0)} prompt and {cost.get('completion_tokens', 0)} completion tokens, {dollars}.",
        ]
    return "\n".join(lines) + "\n"


def write_program_review(run: Any, dataset: Any, programs: Any, generator: Any, sandbox: Any) -> Any:
    """Review ``programs`` (a :class:`~alchemist_core.refs.ProgramSetRef`) on the generator's sample
    and labeled rows; write ``review.json`` and ``report.md`` into the run folder.

    ``run`` and ``dataset`` are the run's :class:`~alchemist_core.refs.RunContext` and
    :class:`~alchemist_core.refs.DatasetRef`; ``generator`` and ``sandbox`` its settings.
    Returns a :class:`~alchemist_core.refs.ProgramReview`.
    """
    from alchemist_core.generators.build import generation_context
    from alchemist_core.llm import Ledger
    from alchemist_core.programs.program_set import load_program_set
    from alchemist_core.refs import ProgramReview
    from alchemist_core.report.summary import sampling_summary

    folder = run.run
    program_set = load_program_set(Storage(programs.uri))
    manifest_entries = Storage(programs.uri).read_json("manifest.json")["programs"]
    context = generation_context(
        run.spec, dataset.manifest, dataset.data, fields=list(dataset.fields), n_programs=generator.n_programs,
        n_sample=generator.sample_rows, seed=run.seed, train_split=dataset.splits.train, valid_split=dataset.splits.valid,
    )  # fmt: skip
    limits = SandboxLimits(program_seconds=sandbox.program_seconds, memory_mb=sandbox.memory_mb)
    rows = review_program_set(program_set, context, fields=list(dataset.fields), limits=limits, cache=run.cache)
    ledger = Ledger(folder)
    cost = ledger.summary() if ledger.entries() else None
    rejected = [r.model_dump() for r in programs.rejected]
    text = render_program_review(
        rows, title=f"Programs for {run.spec.name} ({run.run_id})", program_set_uri=programs.uri,
        program_set_digest=programs.digest, rejected=rejected, n_duplicates=programs.n_duplicates, cost=cost,
        sampling=sampling_summary(programs, manifest_entries, generator.n_programs),
    )  # fmt: skip
    folder.write_json({"programs": rows, "rejected": rejected, "cost": cost}, "review.json")
    report = folder.write_text(text, "report.md")
    return ProgramReview(programs=tuple(rows), rejected=programs.rejected, cost=cost, report=report)
