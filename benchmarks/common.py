"""Helpers shared by the performance benchmarks: timing, peak memory, the machine, tables.

The benchmarks run on shared, loaded machines, so a baseline and the candidate it is compared
with are always measured in the same run, interleaved (baseline, candidate, baseline, ...),
and each keeps its best time: the run least disturbed by other jobs. Ratios of best times are
what the benchmarks report; absolute numbers say more about the machine's load than about the
code.

Peak memory is measured in a fresh child process (``spawn``, not ``fork``, so that nothing of
the parent's heap counts): ``ru_maxrss`` of the child is the high-water mark of its whole
resident set, imports included.
"""

from __future__ import annotations

import os

# Before numpy or torch load. The benchmarks target small machines; a user may override.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, str(min(os.cpu_count() or 1, 2)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Mapping, Sequence  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    # Run as a script: make the checkout importable without installing it.
    sys.path.insert(0, str(REPO))

GIB = 1024**3
MIB = 1024**2


# -- timing ------------------------------------------------------------------------------------
def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of ``function()`` and its result."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def interleaved(candidates: Mapping[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Run every candidate ``repeats`` times, round-robin, so load spikes hit them all alike.

    Returns
    -------
    times : dict of str to list of float
        Wall-clock seconds of each run, per candidate.
    results : dict of str to object
        The last result of each candidate (to check that they agree).
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    results: dict[str, Any] = {}
    for _ in range(max(repeats, 1)):
        for name, function in candidates.items():
            seconds, results[name] = timed(function)
            times[name].append(seconds)
    return times, results


# -- memory ------------------------------------------------------------------------------------
def rss_bytes() -> int:
    """The current resident set size of this process."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """The high-water mark of this process's resident set (``ru_maxrss``, KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


@dataclass(frozen=True)
class ChildRun:
    """What a function run in a child process returned, and what the child used."""

    value: Any
    seconds: float
    start_rss: int  # resident set when the child started (interpreter and benchmark module)
    peak_rss: int  # high-water mark of the child's resident set


def _child_main(connection: Any, function: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    start_rss = rss_bytes()
    try:
        seconds, value = timed(lambda: function(*args, **kwargs))
        connection.send(("ok", value, seconds, start_rss, peak_rss_bytes()))
    except BaseException:  # report everything to the parent, which raises
        connection.send(("error", traceback.format_exc(), 0.0, start_rss, peak_rss_bytes()))
    finally:
        connection.close()


def run_in_child(function: Callable[..., Any], *args: Any, **kwargs: Any) -> ChildRun:
    """Run ``function(*args, **kwargs)`` in a fresh (spawned) process and measure its peak memory.

    ``function`` must be importable by name (defined at module level), and its result picklable.

    Raises
    ------
    RuntimeError
        With the child's traceback when ``function`` raised or the child died.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(sender, function, args, kwargs))
    process.start()
    sender.close()
    try:
        status, value, seconds, start_rss, peak = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the child process running {function.__name__} died with exit code {process.exitcode}") from None
    process.join()
    if status != "ok":
        raise RuntimeError(f"{function.__name__} failed in the child process:\n{value}")
    return ChildRun(value=value, seconds=seconds, start_rss=start_rss, peak_rss=peak)


# -- the machine -------------------------------------------------------------------------------
def machine_summary() -> dict[str, Any]:
    """Cores, memory, load and library versions: the context every number needs."""
    import psutil

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    summary: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    for module in ("numpy", "pandas", "pyarrow", "snorkel", "torch", "dask", "distributed", "prefect"):
        try:
            summary[module] = __import__(module).__version__
        except Exception:  # not installed, or fails to import: leave it out
            continue
    return summary


def describe_machine(summary: Mapping[str, Any]) -> str:
    load = summary.get("load_average_1_5_15", [])
    return (
        f"{summary['cpus']} CPUs, {summary['memory_gib']} GiB, load average {load} "
        f"(a load above the CPU count means other jobs share the machine); Python {summary['python']}"
    )


# -- output ------------------------------------------------------------------------------------
def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(value.ljust(widths[i]) for i, value in enumerate(row)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(f"\n## {title}\n")
    print(format_table(headers, rows))
    sys.stdout.flush()


def runs(seconds: Sequence[float]) -> str:
    """Every run's seconds, in order: how much the load moved them."""
    return " ".join(f"{value:.3g}" for value in seconds)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.2f} GiB"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "-"


def base_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every benchmark takes: ``--quick``, ``--repeats``, ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs, measures nothing")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each candidate, interleaved; the best counts")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--workdir", type=Path, help="folder for generated data (default: a temporary folder)")
    return parser


def write_json(path: Path | None, payload: Mapping[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
