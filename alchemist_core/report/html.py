"""``report.html``: the Markdown report with figures, in one self-contained file (inline SVG and CSS).

The text is the same Markdown as ``report.md``, rendered with markdown-it; the figures
(:mod:`alchemist_core.report.figures`) come first, under "At a glance". Nothing is fetched
when the page opens.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from typing import Any

from alchemist_core.report import figures

logger = logging.getLogger(__name__)

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px;
       padding: 24px 32px; color: #1f2328; }
h1 { font-size: 24px; } h2 { font-size: 19px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; vertical-align: top; }
th { background: #f6f8fa; }
td { max-width: 420px; overflow-wrap: anywhere; }
code { font-size: 12px; background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px 24px; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #57606a; margin-top: 4px; }
"""


def _figures(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(caption, svg) of every figure the results can draw."""
    drawn: list[tuple[str, str]] = []
    programs = results.get("programs") or []
    class_names = list((results.get("dataset") or {}).get("class_names") or [])
    candidates = [
        ("Coverage of each program on the training split, and its accuracy where it votes",
         lambda: figures.programs_figure(programs)),
        ("How often each program votes with another one, and against one",
         lambda: figures.agreement_figure(programs)),
        ("Class distribution: the training pseudolabels against the valid split's gold labels",
         lambda: figures.distribution_figure(results.get("distribution") or {})),
    ]  # fmt: skip
    for split, block in (results.get("confusion") or {}).items():
        title = f"Final labels on {split}" + (" (in-sample: refitted on these rows)" if block.get("in_sample") else "")
        matrix = block.get("matrix") or []
        candidates.append((title, lambda m=matrix, t=title: figures.confusion_figure(m, class_names, t)))
    candidates.append(("What the run's LLM calls cost against labeling the training rows directly",
                       lambda: figures.cost_figure(results.get("cost") or {})))  # fmt: skip
    for caption, draw in candidates:
        try:
            svg = draw()
        except Exception as error:  # noqa: BLE001 - a figure that fails must not cost the report
            logger.warning("could not draw %r: %s", caption, error)
            continue
        if svg:
            drawn.append((caption, svg))
    return drawn


def render_html(results: Mapping[str, Any], markdown: str) -> str:
    """The report as one HTML page: figures first, then the Markdown report's text and tables."""
    from markdown_it import MarkdownIt

    title = html.escape(str(results.get("title", "Alchemist run report")))
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    drawn = _figures(results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
    ]
    heading, rest = ("", body)
    if body.startswith("<h1>") and "</h1>" in body:
        cut = body.index("</h1>") + len("</h1>")
        heading, rest = body[:cut], body[cut:]
    parts.append(heading)
    if drawn:
        parts.append('<section id="at-a-glance"><h2>At a glance</h2><div class="figures">')
        parts += [f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>" for caption, svg in drawn]
        parts.append("</div></section>")
    parts += [f'<section id="report">{rest}</section>', "</body></html>"]
    return "\n".join(parts) + "\n"
