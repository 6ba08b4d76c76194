"""The report for people: a Rich terminal summary and a self-contained HTML page (inline CSS, PNG plots)."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from fieldguide.readiness._findings import LEVELS, Finding, Report

BANDS = {"C": "C · accessible", "B": "B · faithful", "A": "A · appropriate for the target"}
STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "block": "bold red"}
MARK = {"pass": "✓", "warn": "!", "fail": "✗", "block": "⛔"}


def _headline(report: Report) -> str:
    what = f"{report.n_rows:,} rows × {report.n_columns} columns"
    if report.sampled is not None:
        what += f" (streamed; row by row checks on a seeded sample of {report.sampled:,})"
    target = (
        f", target {report.target!r} ({report.task})" if report.target else ", no target (band A not graded)"
    )
    return f"{report.source}: {what}{target}"


def print_summary(report: Report, console: Console | None = None) -> None:
    """Print the level, then the findings by band, worst first, each with what to do."""
    console = console or Console()
    level = report.level
    color = (
        "green" if level.startswith("A") or level == "B1" else "yellow" if level.startswith("B") else "red"
    )
    console.print(f"[bold]Readiness level [{color}]{level}[/{color}][/bold]  ({' < '.join(LEVELS)})")
    console.print(_headline(report), markup=False, highlight=False)
    for band, title in BANDS.items():
        findings = [f for f in report.sorted_findings() if f.band == band]
        if not findings:
            continue
        table = RichTable(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
        table.add_column(width=2)
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        passed = [f.id for f in findings if f.severity == "pass"]
        for f in findings:
            if f.severity == "pass":
                continue
            note = f"{escape(f.message)}\n[dim]→ {escape(f.action)}[/dim]"
            table.add_row(
                f"[{STYLE[f.severity]}]{MARK[f.severity]}[/]", f"[{STYLE[f.severity]}]{f.id}[/]", note
            )
        if passed:
            table.add_row("[green]✓[/]", "[green]passed[/]", f"[dim]{', '.join(passed)}[/dim]")
        console.print(table)
    console.print(f"[dim]{_counts(report)}[/dim]")


def _counts(report: Report) -> str:
    counts = report.to_dict()["counts"]
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def to_html(report: Report) -> str:
    """A self-contained HTML report: inline CSS, plots embedded as base64 PNG, every value escaped."""
    e = html.escape
    ladder = "".join(f'<span class="lvl{" on" if lv == report.level else ""}">{lv}</span>' for lv in LEVELS)
    sections = []
    for band, title in BANDS.items():
        rows = "".join(_finding_html(f) for f in report.sorted_findings() if f.band == band)
        if rows:
            sections.append(
                f"<h2>{e(title)}</h2><table><tr><th></th><th>check</th><th>finding</th><th>value</th>"
                f"<th>threshold</th></tr>{rows}</table>"
            )
    plots = "".join(
        f'<figure><img alt="{e(alt)}" src="data:image/png;base64,{png}"></figure>'
        for alt, png in _plots(report)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Readiness {e(report.level)}: {e(report.source)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}}
h1{{margin-bottom:.2rem}} .sub{{color:#555}} table{{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}}
td,th{{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}}
.lvl{{display:inline-block;padding:.2rem .5rem;margin-right:.2rem;border-radius:.3rem;background:#eee;color:#777}}
.lvl.on{{background:#2a6;color:#fff;font-weight:bold}} .sev{{font-weight:bold;text-transform:uppercase}}
.pass{{color:#2a6}} .warn{{color:#b80}} .fail,.block{{color:#c22}} .todo{{color:#555;font-style:italic}}
table.ex{{width:auto;margin:.3rem 0}} table.ex td,table.ex th{{font-size:.8rem;padding:.1rem .4rem}}
figure{{display:inline-block;margin:.5rem}} img{{max-width:32rem}}
</style></head><body>
<h1>Data readiness: level {e(report.level)}</h1>
<p class="sub">{e(_headline(report))}</p>
<p>{ladder}</p>
<p class="sub">{e(_counts(report))}. Warnings are reported but do not lower the level; a fail or block does.</p>
{"".join(sections)}
<h2>Plots</h2>{plots}
</body></html>
"""


def _finding_html(f: Finding) -> str:
    e = html.escape
    examples = ""
    if f.examples:
        keys = list(dict.fromkeys(k for row in f.examples for k in row))
        head = "".join(f"<th>{e(k)}</th>" for k in keys)
        body = "".join(
            "<tr>" + "".join(f"<td>{e(json.dumps(row.get(k), default=str))}</td>" for k in keys) + "</tr>"
            for row in f.examples
        )
        examples = f'<table class="ex"><tr>{head}</tr>{body}</table>'
    todo = "" if f.severity == "pass" else f'<div class="todo">→ {e(f.action)}</div>'
    return (
        f'<tr><td class="sev {f.severity}">{f.severity}</td><td>{e(f.id)}</td>'
        f"<td>{e(f.message)}{todo}{examples}</td><td>{e(_value(f.value))}</td><td>{e(f.threshold or '')}</td></tr>"
    )


def _value(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _plots(report: Report) -> list[tuple[str, str]]:
    """(alt text, base64 PNG): the missingness bar chart, then a histogram per flagged column."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out = []
    if report.columns:
        names = [c["name"] for c in report.columns]
        fig = Figure(figsize=(6, 0.25 * len(names) + 1))
        ax = fig.add_subplot()
        ax.barh(names, [100 * c["missing"] for c in report.columns], color="#c84")
        ax.invert_yaxis()
        ax.set_xlabel("missing (%)")
        ax.set_title("Missing values per column")
        out.append(("missing values per column", _png(fig)))
    for name, plot in report.plots.items():
        fig = Figure(figsize=(5, 3))
        ax = fig.add_subplot()
        values = np.asarray(plot["values"], dtype=float)
        if plot["why"] == "units":  # a unit change shows as clusters a factor apart on the log scale
            values = np.log10(np.abs(values[values != 0]))
            ax.set_xlabel("log10 |value|")
        ax.hist(values, bins=60, color="#48c")
        ax.set_title(f"{name} ({plot['why']})")
        out.append((f"distribution of {name}", _png(fig)))
    return out


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
