"""Bad input at the command line: a clear message, a non-zero exit, and nothing overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main as cli

PROGRAMS = Path(__file__).parent / "programs"


def _run(tmp_path, *args: str) -> int:
    return cli(["run", "--spec", "demo", "--storage", str(tmp_path / "store"), "--dask-address", "synchronous", "--no-student", *args])


@pytest.fixture()
def tickets(tmp_path) -> Path:
    path = tmp_path / "tickets.csv"
    path.write_text("id,text,label\n1,my invoice is wrong,billing\n2,the app crashes,technical\n3,where is my parcel,shipping\n")
    return path


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("missing.csv", None, "missing.csv"),
        ("empty.csv", b"", "empty"),
        ("latin1.csv", b"id,text,label\n1,caf\xe9,billing\n", "UTF-8"),
        ("corrupt.parquet", b"PAR1 not really parquet", "Parquet"),
        ("typo.csv", b"id,txt,label\n1,hello,billing\n", "text"),
        ("dupes.csv", b"id,text,label\n1,a,billing\n1,b,billing\n", "unique"),
        ("classes.csv", b"id,text,label\n1,a,billing\n2,b,refunds\n", "refunds"),
    ],
    ids=["missing", "empty", "not-utf8", "corrupt-parquet", "misspelled-column", "duplicate-ids", "unknown-class"],
)
def test_bad_data_fails_clearly(prefect_harness, tmp_path, capsys, name, content, expected):
    data = tmp_path / name
    if content is not None:
        data.write_bytes(content)
    code = _run(tmp_path, "--data", str(data), "--id-field", "id", "--generator", "library", "--library", str(PROGRAMS))
    message = capsys.readouterr().err
    assert code != 0
    assert "alchemist: error:" in message and expected.lower() in message.lower(), message
    assert not list((tmp_path / "store").glob("datasets/*/dataset.json"))


def test_program_folder_with_a_syntax_error(prefect_harness, tmp_path, capsys, tickets):
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "good.py").write_text("def label(x):\n    return 0\n")
    (folder / "broken.py").write_text("def label(x)\n    return 1\n")
    code = _run(tmp_path, "--data", str(tickets), "--id-field", "id", "--generator", "library", "--library", str(folder))
    message = capsys.readouterr().err
    assert code != 0 and "broken" in message and "line 1" in message, message


def test_misspelled_config_key_and_unknown_spec(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("generater:\n  kind: offline\n")
    assert cli(["run", "--config", str(config)]) == 2
    assert "generater" in capsys.readouterr().err
    assert _run(tmp_path, "--spec", "no-such-spec") == 2
    assert "shipped specs" in capsys.readouterr().err


def test_unreachable_s3_path(prefect_harness, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = _run(tmp_path, "--data", "s3://no-such-bucket/tickets.csv", "--generator", "library", "--library", str(PROGRAMS))
    assert code != 0
    assert "s3://no-such-bucket/tickets.csv" in capsys.readouterr().err


def test_a_failed_rerun_overwrites_nothing(prefect_harness, tmp_path, capsys, tickets):
    from tests.flows.helpers import quick_programs

    library = str(quick_programs(tmp_path / "library"))
    assert _run(tmp_path, "--data", str(tickets), "--id-field", "id", "--generator", "library", "--library", library, "--run-id", "r") == 0
    run = tmp_path / "store" / "runs" / "r"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.csv"
    bad.write_text("id,txt,label\n1,hello,billing\n")
    assert _run(tmp_path, "--data", str(bad), "--id-field", "id", "--generator", "library", "--library", library, "--run-id", "r") != 0
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before
    assert json.loads((run / "config.json").read_text())["data"]["source"] == str(tickets)


def test_a_deleted_run_folder_is_made_again_not_served_from_the_cache(prefect_harness, tmp_path, capsys, tickets):
    import shutil

    from tests.flows.helpers import quick_programs

    library = quick_programs(tmp_path / "library")
    args = ("--data", str(tickets), "--id-field", "id", "--generator", "library", "--library", str(library))
    assert _run(tmp_path, *args) == 0
    run = Path(capsys.readouterr().out.split("report: ")[1].split()[0]).parent
    report = (run / "report.md").read_text()
    shutil.rmtree(run)
    # the same configuration again: the cached stages pointed into the deleted folder, so they run again
    assert _run(tmp_path, *args) == 0
    assert (run / "labels").is_dir() and (run / "metrics.json").exists() and (run / "student").exists() is False
    assert report.split("## Run")[0] == (run / "report.md").read_text().split("## Run")[0]


def test_a_10_mb_row_is_labeled_not_dropped(prefect_harness, tmp_path):
    data = tmp_path / "big.csv"
    data.write_text(
        "id,text,label\n1,my invoice is wrong,billing\n2," + "the app crashes " * 650_000 + ",technical\n3,where is my parcel,shipping\n"
    )
    assert _run(tmp_path, "--data", str(data), "--id-field", "id", "--generator", "library", "--library", str(PROGRAMS), "--run-id", "big") == 0
    import pyarrow.parquet as pq

    labels = pq.read_table(next((tmp_path / "store" / "runs" / "big" / "labels" / "train").glob("*.parquet")))
    assert labels.num_rows == 3
    assert labels.column("label").to_pylist()[1] == 1  # technical: the keyword program still read the long row
