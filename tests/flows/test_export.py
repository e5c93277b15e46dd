"""`alchemist export`: every row of a run, joinable to the input by its id, with each stage's label."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.cli import main as cli
from tests.flows.helpers import quick_programs


@pytest.fixture(scope="module")
def tickets_run(prefect_harness, tmp_path_factory) -> Path:
    """A finished run on tickets with their own id column."""
    root = tmp_path_factory.mktemp("export")
    data = root / "tickets.csv"
    rows = ["ticket,text,label,split"]
    texts = {"billing": "I was charged twice so refund my invoice", "technical": "the app crashes with an error",
             "shipping": "my parcel delivery is late", "account": "I cannot sign in to my account password"}  # fmt: skip
    for i in range(240):
        team = list(texts)[i % 4]
        rows.append(f"T-{1000 + i},{texts[team]} {i},{team},{['train', 'train', 'valid', 'test'][(i // 4) % 4]}")
    data.write_text("\n".join(rows) + "\n")
    assert cli(["run", "--spec", "demo", "--data", str(data), "--id-field", "ticket", "--split-field", "split",
                "--generator", "library", "--library", str(quick_programs(root / "library")), "--storage", str(root / "store"),
                "--dask-address", "synchronous", "--student-model", "logreg", "--features", "tfidf", "--run-id", "r",
                "--student-candidates", "logreg/tfidf/covered", "--label-model", "majority"]) == 0  # fmt: skip
    return root


def test_export_joins_every_row_back_to_the_input(tickets_run):
    run = tickets_run / "store" / "runs" / "r"
    out = tickets_run / "labels.csv"
    assert cli(["export", "--run", str(run), "--out", str(out)]) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 240 and len({r["ticket"] for r in rows}) == 240  # the input's own id column, every row once
    assert list(rows[0])[:3] == ["ticket", "split", "text"]
    source = {line.split(",")[0]: line for line in (tickets_run / "tickets.csv").read_text().splitlines()[1:]}
    assert all(r["ticket"] in source and source[r["ticket"]].split(",")[1] == r["text"] for r in rows)
    classes = {"billing", "technical", "shipping", "account"}
    assert {r["final_label"] for r in rows} <= classes and {r["student_label"] for r in rows} <= classes
    assert all(r["final_source"] for r in rows) and all(r["pseudolabel_confidence"] for r in rows)
    assert all(0 <= float(r["final_confidence"]) <= 1 for r in rows)


def test_export_formats_fields_and_splits(tickets_run, capsys):
    run = tickets_run / "store" / "runs" / "r"
    parquet = tickets_run / "test.parquet"
    assert cli(["export", "--run", str(run), "--out", str(parquet), "--splits", "test", "--fields", ""]) == 0
    table = pq.read_table(parquet)
    assert table.num_rows == 60 and "text" not in table.column_names and set(table.column("split").to_pylist()) == {"test"}
    jsonl = tickets_run / "valid.jsonl"
    assert cli(["export", "--run", str(run), "--out", str(jsonl), "--splits", "valid"]) == 0
    first = json.loads(jsonl.read_text().splitlines()[0])
    assert first["split"] == "valid" and first["ticket"].startswith("T-") and "pseudolabel" in first
    capsys.readouterr()
    assert cli(["export", "--run", str(run), "--out", str(tickets_run / "x.csv"), "--splits", "holdout"]) == 2
    assert "the run has no splits ['holdout']; it has" in capsys.readouterr().err
    assert cli(["export", "--run", str(run), "--out", str(tickets_run / "x.xlsx")]) == 2
    assert not (tickets_run / "x.xlsx").exists() and not (tickets_run / "x.csv").exists()
