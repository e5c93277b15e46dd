"""What the command line shows: one line per stage, LLM calls, warnings; the full log goes to a file.

Without ``-v`` the terminal shows the ``alchemist.progress`` stage lines (name, seconds or
"cached", what the stage produced, and for batched stages ``k/n`` with an estimate of the time
left), one line per LLM call, and warnings from Alchemist and from its tasks. Library loggers
(httpx, distributed, prefect internals, transformers), progress bars of model downloads and
Python warnings go to the log file only. With ``-v`` everything is shown as before.

The log file starts in a temporary folder (the run folder is named only once the run starts)
and is moved into the run folder, or under ``<storage>/logs/`` when the command fails before
one exists, by :meth:`LogSession.finish`.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text

from alchemist_core.progress import PROGRESS_LOGGER

QUIET_ENV = {
    # model-loading progress bars and advisory warnings of the Hugging Face stack
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}

HIDDEN_STAGES = frozenset(
    {"plan-shards", "plan-feature-shards", "publish-artifacts", "publish-review-artifacts", "publish-relabel-artifacts",
     "publish-prune-report", "collect-fold-votes"}  # fmt: skip
)
"""Bookkeeping tasks whose lines would say nothing to a user."""

BATCHED_STAGES = frozenset({"apply-programs"})
"""Stages run as many batches: each batch is one line with ``k/n`` and an estimate of the time left."""

_OURS = ("alchemist", "alchemist_core", "flows", "tasks")
_TASK_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")
_CALL_LOGGER = "alchemist_core.llm.client"


def _is_ours(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in _OURS)


class ConsoleFilter(logging.Filter):
    """Which records reach the terminal without ``-v`` (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == PROGRESS_LOGGER:
            return getattr(record, "outcome", "") != "expect" and getattr(record, "stage", "") not in HIDDEN_STAGES
        if name == _CALL_LOGGER and record.levelno >= logging.INFO:
            return True
        if _is_ours(name):
            return record.levelno >= logging.WARNING
        # Our tasks' own warnings come through Prefect's run loggers; a failure's traceback does not:
        # the command prints the error and where the log is.
        return name in _TASK_LOGGERS and record.levelno == logging.WARNING


@dataclass
class _Batches:
    total: int = 0
    done: int = 0
    started: float = field(default_factory=time.monotonic)


class StageConsoleHandler(logging.Handler):
    """Renders stage records as aligned lines with ``rich``; other records as ``level: message``."""

    def __init__(self, console: Console | None = None):
        super().__init__()
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._batches: dict[str, _Batches] = {}
        self.addFilter(ConsoleFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.name == PROGRESS_LOGGER:
                self.console.print(self._stage_line(record))
            elif record.name == _CALL_LOGGER and record.levelno == logging.INFO:
                self.console.print(Text("    " + record.getMessage(), style="dim"))
            else:
                style = "red" if record.levelno >= logging.ERROR else "yellow"
                self.console.print(Text(f"  {record.levelname.lower()}: {record.getMessage()}", style=style))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)

    def expect(self, stage: str, total: int) -> None:
        self._batches[stage] = _Batches(total=total)

    def _stage_line(self, record: logging.LogRecord) -> Text:
        stage = str(getattr(record, "stage", "?"))
        label = stage.replace("-", " ")
        cached = bool(getattr(record, "cached", False))
        failed = getattr(record, "outcome", "") == "failed"
        seconds = float(getattr(record, "seconds", 0.0) or 0.0)
        detail = str(getattr(record, "detail", "") or "")
        if stage in BATCHED_STAGES:
            batches = self._batches.setdefault(stage, _Batches())
            batches.done += 1
            label += f" {batches.done}/{batches.total}" if batches.total else f" {batches.done}"
            if batches.total and batches.done < batches.total and not failed:
                elapsed = time.monotonic() - batches.started
                left = elapsed / batches.done * (batches.total - batches.done)
                detail = f"{detail}; about {left:,.0f} s left" if detail else f"about {left:,.0f} s left"
        mark, style = ("✗", "red") if failed else (("·", "blue") if cached else ("✓", "green"))
        how = "cached" if cached else f"{seconds:,.1f} s"
        line = Text(f"  {mark} ", style=style)
        line.append(f"{label:<28}", style="bold" if not cached else "")
        line.append(f" {how:>9}")
        if detail:
            line.append(f"  {detail}", style="red" if failed else "")
        return line


class _ExpectHandler(logging.Handler):
    """Feeds ``progress.expect`` records (batch totals) to the console handler."""

    def __init__(self, console: StageConsoleHandler):
        super().__init__(level=logging.DEBUG)
        self.target = console

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == PROGRESS_LOGGER and getattr(record, "outcome", "") == "expect":
            self.target.expect(str(getattr(record, "stage", "")), int(getattr(record, "total", 0)))


@dataclass
class LogSession:
    """The log file of one command, and where it ends up."""

    path: str
    verbose: bool
    handlers: list[logging.Handler]
    storage: str | None = None
    run_root: str | None = None

    def close(self) -> None:
        """Take this session's handlers off the root logger (the file stays where it is)."""
        root = logging.getLogger()
        for handler in self.handlers:
            handler.flush()
            root.removeHandler(handler)
            handler.close()
        self.handlers = []

    def finish(self) -> str:
        """Close the file and move it into the run folder (or ``<storage>/logs``); returns where it is."""
        if not self.path:
            return ""
        self.close()
        target_root, parts = self._destination()
        if target_root is None:
            return self.path
        from alchemist_core.data.storage import open_storage

        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            where = open_storage(target_root).write_text(text, *parts)
        except Exception:  # noqa: BLE001 - keep the temporary file rather than lose the log
            return self.path
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)
        self.path = where
        return where

    def _destination(self) -> tuple[str | None, tuple[str, ...]]:
        name = os.path.basename(self.path)
        if self.run_root:
            return self.run_root, ("logs", name)
        if self.storage:
            return self.storage, ("logs", name)
        return None, ()


def setup(*, verbose: bool, command: str, to_file: bool = True) -> LogSession:
    """Configure logging for one command (before Prefect is imported): the file, the terminal, library noise.

    ``to_file`` is for the commands that run a pipeline; the others only print.
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handlers: list[logging.Handler] = []
    path = ""
    if to_file:
        folder = tempfile.mkdtemp(prefix="alchemist-log-")
        path = os.path.join(folder, f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{command}.log")
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    if verbose:
        console: logging.Handler = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(console)
    else:
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        stages = StageConsoleHandler()
        handlers += [stages, _ExpectHandler(stages)]
        logging.captureWarnings(True)
    for handler in handlers:
        root.addHandler(handler)
    return LogSession(path=path, verbose=verbose, handlers=handlers)


def describe_failure(session: LogSession, error: BaseException) -> str:
    """The line after ``alchemist: error:``: where the full log, traceback included, is ('' without a log file)."""
    if not session.path:
        return ""
    # INFO: into the file (the terminal shows Alchemist's records from WARNING up, and the command prints the error)
    logging.getLogger("alchemist").info("the command failed", exc_info=error)
    return f"alchemist: the full log, with the traceback: {session.finish()}"


def summary_lines(summary: dict[str, Any], *, what: str) -> list[str]:
    """The short summary a command ends with: the run, its report, its key numbers."""
    lines = [f"{what} {summary['run_id']} finished", f"report: {summary['report']}"]
    metrics = summary.get("metrics") or {}
    keys = [k for k in sorted(metrics) if k.endswith((".accuracy", ".macro_f1", ".binary_f1")) and ".test." in k]
    lines += [f"  {k}: {metrics[k]}" for k in keys]
    return lines
