"""Plot how program application and the label step scale, from the benchmarks' JSON files.

Reads the JSON written by ``apply_throughput.py --sweep --json ...`` (the sandbox's seconds by
rows and programs, and the Dask runs with one and two workers) and by
``label_model_scale.py --json ...`` (time and peak memory of the label step by rows, for
both reads), and draws one figure with a panel for each:

1. program application: seconds against rows, one line per program count (log-log);
2. Dask: the wall-clock seconds of every run with one worker and with two;
3. label step: peak memory against rows, every vote in memory against the pipeline's
   shard-by-shard sample, with the 4 GiB target;
4. label step: seconds against rows for the same two reads.

A panel whose data is missing from the files given is left out. Only measured points are
drawn; nothing is extrapolated.

Usage::

    python benchmarks/plot_scaling.py --apply apply.json [--dask dask.json] --label-model lm.json \
        --out docs/img/scaling.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Sequence

GIB = 1024**3
MEMORY_TARGET_GIB = 4.0


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot read benchmark results from {path}: {error}") from None
    if not isinstance(payload, dict):
        raise SystemExit(f"expected a JSON object in {path}, got {type(payload).__name__}")
    return payload


def _sandbox_panel(axes: Any, sweep: Sequence[dict[str, Any]]) -> None:
    for n_programs in sorted({point["programs"] for point in sweep}):
        points = sorted((p["rows"], p["seconds"]) for p in sweep if p["programs"] == n_programs)
        axes.plot(*zip(*points), marker="o", label=f"{n_programs} program{'s' if n_programs > 1 else ''}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows in the partition")
    axes.set_ylabel("seconds (best run)")
    axes.set_title("Sandboxed program application")
    axes.legend()


def _dask_panel(axes: Any, dask: dict[str, Any]) -> None:
    names = [name for name in ("1 worker", "2 workers") if name in dask["times"]]
    for position, name in enumerate(names):
        times = dask["times"][name]
        axes.scatter([position] * len(times), times, alpha=0.7)
        axes.hlines(min(times), position - 0.25, position + 0.25, color="black")
    axes.set_xticks(range(len(names)), names)
    axes.set_xlim(-0.6, len(names) - 0.4)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("seconds per run (line: best)")
    rows = dask["n_shards"] * dask["shard_rows"]
    axes.set_title(f"Dask, {rows:,} rows: {dask['speedup']:.2f}x with 2 workers")


def _label_panel(axes: Any, scaling: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float], label: str) -> None:
    for read in sorted({point["read"] for point in scaling}):
        points = sorted((p["rows"] / 1e6, value(p)) for p in scaling if p["read"] == read)
        name = "pipeline: sampled read" if read == "sampled read" else "baseline: every vote in memory"
        axes.plot(*zip(*points), marker="o", label=name)
    axes.set_xlabel("rows (millions)")
    axes.set_ylabel(label)
    axes.set_ylim(bottom=0)


def plot(apply: dict[str, Any], label_model: dict[str, Any], out: Path) -> list[str]:
    """Draw the panels the results allow into ``out``; the titles of the panels drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, Callable[[Any], None]]] = []
    if apply.get("sweep"):
        panels.append(("sandbox", lambda axes: _sandbox_panel(axes, apply["sweep"])))
    if apply.get("dask"):
        panels.append(("dask", lambda axes: _dask_panel(axes, apply["dask"])))
    scaling = label_model.get("scaling") or []
    if scaling:
        shape = label_model.get("settings", {})
        suffix = f" ({shape.get('programs', '?')} programs x {shape.get('classes', '?')} classes)"

        def memory(axes: Any) -> None:
            _label_panel(axes, scaling, lambda p: p["peak_rss"] / GIB, "peak RSS (GiB)")
            axes.axhline(MEMORY_TARGET_GIB, color="red", linestyle="--", label=f"{MEMORY_TARGET_GIB:g} GiB target")
            axes.set_ylim(0, max(MEMORY_TARGET_GIB * 1.15, axes.get_ylim()[1]))
            axes.set_title("Label step: peak memory" + suffix)
            axes.legend()

        def seconds(axes: Any) -> None:
            _label_panel(axes, scaling, lambda p: p["seconds"], "seconds (read, fit, predict, write)")
            axes.set_title("Label step: time" + suffix)
            axes.legend()

        panels += [("label memory", memory), ("label time", seconds)]
    if not panels:
        raise SystemExit("nothing to plot: give --apply with a sweep or Dask runs, or --label-model with scaling results")
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(6.4 * columns, 4.6 * rows), squeeze=False)
    for (_, draw), axes in zip(panels, grid.ravel()):
        draw(axes)
        axes.grid(True, which="both", alpha=0.3)
    for axes in grid.ravel()[len(panels) :]:
        axes.set_visible(False)
    machine = apply.get("machine") or label_model.get("machine") or {}
    if machine:
        figure.suptitle(f"{machine.get('cpus', '?')} CPUs, {machine.get('memory_gib', '?')} GiB, Python {machine.get('python', '?')}")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return [name for name, _ in panels]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apply", type=Path, help="JSON of apply_throughput.py (with --sweep for the first panel)")
    parser.add_argument(
        "--dask", type=Path, help="JSON of another apply_throughput.py run (e.g. --skip-single --repeats 5) for the Dask panel"
    )
    parser.add_argument("--label-model", type=Path, help="JSON of label_model_scale.py")
    parser.add_argument("--out", type=Path, default=Path("docs/img/scaling.png"), help="the PNG to write")
    args = parser.parse_args(argv)
    apply = _load(args.apply)
    if args.dask is not None:
        dask = _load(args.dask).get("dask")
        if not dask:
            raise SystemExit(f"expected Dask results (apply_throughput.py without --skip-dask) in {args.dask}")
        apply = {**apply, "dask": dask}
    drawn = plot(apply, _load(args.label_model), args.out)
    print(f"wrote {args.out} with panels: {', '.join(drawn)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
