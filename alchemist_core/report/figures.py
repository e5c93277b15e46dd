"""The report's figures, drawn with matplotlib and returned as inline SVG.

Each function takes the report's results (see :class:`alchemist_core.report.render.ReportResults`)
and returns an ``<svg>`` string, or ``""`` when the results hold nothing to draw.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")
_MAX_PROGRAMS = 60


def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})  # the same results, the same page
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "svg.hashsalt": "alchemist", "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _program_rows(programs: Sequence[Mapping[str, Any]], key: str) -> tuple[list[Mapping[str, Any]], list[str], float]:
    """The programs that have ``key`` (at most :data:`_MAX_PROGRAMS`), their names, and a figure height for them."""
    rows = [p for p in programs if p.get(key) is not None][:_MAX_PROGRAMS]
    return rows, [str(p["name"]) for p in rows], max(2.0, 0.28 * len(rows) + 1.0)


def programs_figure(programs: Sequence[Mapping[str, Any]]) -> str:
    """Coverage on the training split and accuracy on each scored split, one row per program."""
    rows, names, height = _program_rows(programs, "coverage")
    if not rows:
        return ""
    plt = _pyplot()
    splits = sorted({s for p in rows for s, v in (p.get("accuracy") or {}).items() if v is not None})
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, height), sharey=True)
    y = np.arange(len(rows))
    left.barh(y, [float(p["coverage"]) for p in rows], color=_PALETTE[0])
    left.set_xlim(0, 1)
    left.set_title("coverage (train)")
    left.set_yticks(y, names)
    left.invert_yaxis()
    for k, split in enumerate(splits):
        values = [(p.get("accuracy") or {}).get(split) for p in rows]
        points = [(v, i) for i, v in enumerate(values) if v is not None]
        if points:
            right.scatter([v for v, _ in points], [i for _, i in points], label=split, color=_PALETTE[(k + 1) % len(_PALETTE)], s=18)
    right.set_xlim(0, 1.02)
    right.set_title("accuracy where it votes")
    if splits:
        right.legend(loc="lower left", frameon=False)
    return _svg(figure)


def agreement_figure(programs: Sequence[Mapping[str, Any]]) -> str:
    """Per program: how often it votes with another program (overlap) and against one (conflict)."""
    rows, names, height = _program_rows(programs, "overlap")
    if not rows:
        return ""
    plt = _pyplot()
    overlap = np.array([float(p.get("overlap") or 0.0) for p in rows])
    conflict = np.array([float(p.get("conflict") or 0.0) for p in rows])
    figure, axis = plt.subplots(figsize=(9, height))
    y = np.arange(len(rows))
    axis.barh(y, overlap - conflict, color=_PALETTE[2], label="agrees with another program")
    axis.barh(y, conflict, left=overlap - conflict, color=_PALETTE[3], label="conflicts with another program")
    axis.set_yticks(y, names)
    axis.invert_yaxis()
    axis.set_xlim(0, max(1e-9, float(overlap.max())) * 1.05)
    axis.set_xlabel("share of training rows")
    axis.legend(loc="lower right", frameon=False)
    return _svg(figure)


def distribution_figure(distribution: Mapping[str, Any]) -> str:
    """The pseudolabels' class shares on the training split against the valid split's gold shares."""
    classes = list(distribution.get("class_names") or [])
    series = {name: counts for name, counts in (distribution.get("series") or {}).items() if counts and sum(counts)}
    if not classes or not series:
        return ""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(max(4.0, 0.9 * len(classes) + 2), 3))
    width = 0.8 / len(series)
    x = np.arange(len(classes))
    for k, (name, counts) in enumerate(series.items()):
        shares = np.asarray(counts, dtype=float) / max(1, sum(counts))
        axis.bar(x + (k - (len(series) - 1) / 2) * width, shares, width, label=name, color=_PALETTE[k % len(_PALETTE)])
    axis.set_xticks(x, classes, rotation=30 if len(classes) > 5 else 0, ha="right" if len(classes) > 5 else "center")
    axis.set_ylabel("share of rows")
    axis.legend(frameon=False)
    return _svg(figure)


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> str:
    """A confusion matrix: gold classes down, predicted across, with counts."""
    counts = np.asarray(matrix, dtype=int)
    if counts.size == 0 or counts.sum() == 0:
        return ""
    plt = _pyplot()
    size = max(2.8, 0.55 * len(class_names) + 1.5)
    figure, axis = plt.subplots(figsize=(size, size))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("final label")
    axis.set_ylabel("gold label")
    axis.set_title(title)
    if len(class_names) <= 12:
        for i in range(len(class_names)):
            for j in range(len(class_names)):
                axis.text(j, i, f"{counts[i, j]:,}", ha="center", va="center", color="white" if shares[i, j] > 0.6 else "black")
    return _svg(figure)


def cost_figure(cost: Mapping[str, Any]) -> str:
    """What the run's LLM calls cost against labeling the training rows directly (known prices only)."""
    estimate = cost.get("full_labeling") or {}
    ledger = cost.get("ledger") or []
    if not estimate or estimate.get("price_known") is False or estimate.get("dollars") is None:
        return ""
    if any(not e.get("price_known", True) and not e.get("cached") for e in ledger):
        return ""
    spent = float(sum(float(e.get("dollars") or 0.0) for e in ledger))
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 1.8))
    labels = ["this run's programs", f"labeling {estimate.get('n_rows', 0):,} rows directly"]
    values = [spent, float(estimate["dollars"])]
    axis.barh([0, 1], values, color=[_PALETTE[2], _PALETTE[1]])
    axis.set_yticks([0, 1], labels)
    axis.invert_yaxis()
    axis.set_xlabel(f"dollars ({estimate.get('model', 'LLM')})")
    for i, value in enumerate(values):
        axis.text(value, i, f" ${value:,.4f}", va="center")
    return _svg(figure)
