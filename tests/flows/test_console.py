"""What a person sees at the terminal: one line per stage, not a log wall; the full log in the run folder."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console

from alchemist_core import progress
from flows.cli import main as cli
from flows.console import ConsoleFilter, StageConsoleHandler


def _record(name: str, level: int, message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_library_noise_stays_off_the_terminal():
    keep = ConsoleFilter().filter
    assert not keep(_record("httpx", logging.INFO, 'HTTP Request: POST http://127.0.0.1:4200/api/logs/ "HTTP/1.1 201 Created"'))
    assert not keep(_record("distributed.nanny", logging.WARNING, "Worker process still alive after 4.0 seconds, killing"))
    assert not keep(_record("prefect.task_runs", logging.ERROR, "Task run failed with exception: InputError(...)"))
    assert not keep(_record("prefect.task_runs", logging.INFO, "Finished in state Completed()"))
    assert not keep(_record("alchemist_core.generators.openai", logging.INFO, "3 of 6 programs accepted"))
    # what a person needs: our tasks' warnings, Alchemist's warnings, each LLM call, each stage
    assert keep(_record("prefect.task_runs", logging.WARNING, "rejected llm_p03: syntax error"))
    assert keep(_record("alchemist_core.labelmodel.aggregate", logging.WARNING, "snorkel did not converge"))
    assert keep(_record("alchemist_core.llm.client", logging.INFO, "LLM call 1: code, gpt-4o-mini, 500 + 70 tokens, $0.0001"))
    assert keep(_record(progress.PROGRESS_LOGGER, logging.INFO, "ingest-data: 0.1 s", stage="ingest-data", outcome="done"))
    assert not keep(_record(progress.PROGRESS_LOGGER, logging.INFO, "plan-shards: 0.0 s", stage="plan-shards", outcome="done"))


def test_stage_lines_count_batches_and_estimate_the_rest():
    console = Console(record=True, width=120)
    handler = StageConsoleHandler(console)
    logger = logging.getLogger(progress.PROGRESS_LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        handler.expect("apply-programs", 4)
        progress.stage_finished("ingest-data", seconds=0.12, cached=False, detail="3,000 rows")
        progress.stage_finished("generate-programs", seconds=0.0, cached=True, detail="17 programs")
        for _ in range(2):
            progress.stage_finished("apply-programs", seconds=1.0, cached=False, detail="2 shards, 2,000 rows")
        progress.stage_failed("fit-label-model", seconds=0.5, error="failed")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines[0].startswith("  ✓ ingest data") and lines[0].endswith("0.1 s  3,000 rows")
    assert lines[1].startswith("  · generate programs") and "cached  17 programs" in lines[1]
    assert lines[2].startswith("  ✓ apply programs 1/4") and "s left" in lines[2]
    assert lines[3].startswith("  ✓ apply programs 2/4")
    assert lines[4].startswith("  ✗ fit label model") and lines[4].endswith("failed")


def test_a_run_prints_its_stages_and_keeps_the_full_log_in_the_run_folder(
    prefect_harness, small_demo_csv, quick_library, tmp_path, capsys
):
    args = ["run", "--spec", "demo", "--data", str(small_demo_csv), "--split-field", "split", "--generator", "library",
            "--library", str(quick_library), "--storage", str(tmp_path / "store"), "--dask-address", "synchronous",
            "--student-model", "logreg", "--features", "tfidf", "--student-candidates", "logreg/tfidf/covered",
            "--label-model", "majority"]  # fmt: skip
    assert cli(args) == 0
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert len(lines) <= 30, "\n".join(lines)
    assert any(line.startswith("  ✓ ingest data") for line in lines)
    assert any(line.startswith("  ✓ apply programs 1/") for line in lines)
    assert "httpx" not in captured.err and "prefect" not in captured.err.lower() and "Traceback" not in captured.err
    log = Path(captured.out.split("log: ")[1].split()[0])
    report = Path(captured.out.split("report: ")[1].split()[0])
    assert log.parent == report.parent / "logs" and log.exists()
    page = (report.parent / "report.html").read_text()
    assert page.count("<svg") >= 5 and "Final labels on test" in page  # the figures, beside report.md
    text = log.read_text()
    assert "prefect" in text and "alchemist.progress" in text  # everything, for when something goes wrong


def test_a_failure_prints_the_error_and_where_the_traceback_is(prefect_harness, tmp_path, capsys):
    data = tmp_path / "typo.csv"
    data.write_text("id,txt,label\n1,hello,billing\n")
    assert cli(["run", "--spec", "demo", "--data", str(data), "--id-field", "id", "--storage", str(tmp_path / "store"),
                "--dask-address", "synchronous"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Task run" not in err
    assert "alchemist: error: field 'text' is not in " in err and "typo.csv; expected one of its columns" in err
    log = Path(err.split("the full log, with the traceback: ")[1].split()[0])
    assert log.parent == tmp_path / "store" / "logs" and "Traceback (most recent call last)" in log.read_text()


def test_prompt_into_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    import sys

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli(["prompt", "--spec", "youtube", "--json"]) == 0


def test_an_error_before_any_flow_still_leaves_its_traceback_in_the_log(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    store = tmp_path / "store"
    assert cli(["run", "--generator", "openai", "--storage", str(store)]) == 2  # no endpoint: refused before any flow
    err = capsys.readouterr().err
    assert "Traceback" not in err and "alchemist: error:" in err
    log = Path(err.split("the full log, with the traceback: ")[1].split()[0])
    assert log.parent == store / "logs" and "Traceback (most recent call last)" in log.read_text()


def test_an_interrupted_command_says_where_its_log_is(monkeypatch, capsys):
    import flows.cli

    def interrupted(args):
        logging.getLogger("alchemist_core.stages").info("working")
        raise KeyboardInterrupt

    monkeypatch.setattr(flows.cli, "_cmd_run", interrupted)
    assert cli(["run"]) == 130
    err = capsys.readouterr().err
    assert "rerun the same command to resume" in err
    log = Path(err.split("the log so far: ")[1].split()[0])
    assert "working" in log.read_text()
