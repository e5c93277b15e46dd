"""report.html: the report's text and tables with its figures, self-contained, and what a browser shows."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from alchemist_core.report.html import render_html
from alchemist_core.report.render import render_report

RESULTS = {
    "title": "Alchemist run r1: tickets",
    "dataset": {"name": "tickets", "class_names": ["billing", "technical", "shipping"], "rows": {"train": 900, "valid": 100}},
    "programs": [
        {"name": f"p{i:02d}_words", "origin": "offline", "coverage": 0.1 * (i + 1), "overlap": 0.05 * (i + 1), "conflict": 0.01 * i,
         "accuracy": {"test": 0.8 + 0.02 * i}, "faults": {"errors": 0, "invalid": 0, "timed_out": 0}}
        for i in range(5)
    ],
    "distribution": {"class_names": ["billing", "technical", "shipping"],
                     "series": {"final labels (train)": [400, 300, 200], "gold (valid)": [40, 35, 25]}},
    "confusion": {"test": {"matrix": [[30, 2, 1], [3, 28, 0], [1, 1, 34]], "in_sample": False},
                  "valid": {"matrix": [[40, 0, 0], [0, 35, 0], [0, 0, 25]], "in_sample": True}},
    "cost": {"ledger": [{"model": "gpt-4o-mini", "prompt_tokens": 4000, "completion_tokens": 600, "dollars": 0.0009}],
             "full_labeling": {"model": "gpt-4o-mini", "pool": "train", "n_rows": 900, "n_calls": 45, "dollars": 0.0112,
                               "price_known": True}},
    "metrics": [{"model": "student", "split": "test", "accuracy": 0.92, "macro_f1": 0.91}],
}  # fmt: skip


def _page(tmp_path):
    page = render_html(RESULTS, render_report(RESULTS))
    path = tmp_path / "report.html"
    path.write_text(page)
    return page, path


def test_the_page_has_every_figure_and_the_report_text(tmp_path):
    page, _ = _page(tmp_path)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions == [
        "Coverage of each program on the training split, and its accuracy where it votes",
        "How often each program votes with another one, and against one",
        "Class distribution: the training pseudolabels against the valid split&#x27;s gold labels",
        "Final labels on test",
        "Final labels on valid (in-sample: refitted on these rows)",
        "What the run&#x27;s LLM calls cost against labeling the training rows directly",
    ]
    assert page.count("<svg") == 6
    assert "<h1>Alchemist run r1: tickets</h1>" in page and page.index("At a glance") > page.index("<h1>")
    assert "<table>" in page and "<td>p00_words</td>" in page  # the Markdown tables, rendered
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing is fetched when it opens
    assert render_html(RESULTS, render_report(RESULTS)) == page  # the same results, the same page


def test_no_figure_for_what_is_not_known():
    results = {**RESULTS, "cost": {"full_labeling": {**RESULTS["cost"]["full_labeling"], "price_known": False}}}
    results.pop("confusion")
    page = render_html(results, render_report(results))
    assert page.count("<svg") == 3 and "Final labels on" not in page and "cost against" not in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium on this machine (Debian package chromium)")
def test_a_headless_browser_renders_the_figures(tmp_path):
    _, path = _page(tmp_path)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert dom.count("<svg") == 6 and "At a glance" in dom
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1400,1800", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 50_000  # a page with drawings, not a blank one
