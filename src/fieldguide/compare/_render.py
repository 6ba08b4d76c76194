"""How a comparison looks: a live Rich table while folds run, the final table, boxplots and an HTML page."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from rich import box
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from fieldguide.compare._metrics import Metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fieldguide.compare._compare import Comparison, FoldResult


@contextmanager
def live_progress(
    models: list[str], n_folds: int, metric: Metric, show: bool
) -> Iterator[Callable[[FoldResult], None]]:
    """Yields ``on_result(fold_result)``; while the block runs, a live table of folds done and scores so far."""
    done: dict[str, list[FoldResult]] = {name: [] for name in models}

    def table() -> Table:
        view = Table(title=f"Cross-validating {len(models)} models × {n_folds} folds ({metric.title})")
        for column in ("model", "folds", metric.title, "fit s", "failed"):
            view.add_column(column, justify="left" if column == "model" else "right")
        for name, results in done.items():
            fitted = [r for r in results if r.error is None]
            failed = len(results) - len(fitted)
            view.add_row(
                name,
                f"{len(results)}/{n_folds}",
                _mean_std([r.score for r in fitted]),
                f"{np.mean([r.fit_time_s for r in fitted]):.2g}" if fitted else "",
                f"[red]{failed}[/red]" if failed else "",
            )
        return view

    if not show:
        yield lambda result: done[result.model].append(result)
        return
    with Live(table(), console=Console(stderr=True), transient=True, refresh_per_second=4) as live:

        def on_result(result: FoldResult) -> None:
            done[result.model].append(result)
            live.update(table())

        yield on_result


def _mean_std(scores: list[float]) -> str:
    if not scores:
        return ""
    std = np.std(scores, ddof=1) if len(scores) > 1 else math.nan
    return f"{np.mean(scores):.4f}" + (f" ± {std:.4f}" if math.isfinite(std) else "")


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None or not math.isfinite(value) else format(value, spec)


def _p(p: float | None) -> str:
    return "" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"


def _rows(comparison: Comparison) -> list[list[str]]:
    """The summary as text cells (see ``HEADERS``); failed models have no rank, gap or p."""
    cells = []
    for row in comparison.summary.iter_rows(named=True):
        score = _fmt(row["score_mean"], ".4f")
        if row["score_std"] is not None and math.isfinite(row["score_std"]):
            score += f" ± {row['score_std']:.4f}"
        cells.append(
            [
                "" if row["rank"] is None else str(row["rank"]),
                row["model"],
                f"{row['complexity']:g}",
                score,
                _fmt(row["fit_time_s"], ".2g"),
                _fmt(row["predict_time_s"], ".2g"),
                _fmt(row["difference"], "+.4f"),
                "best" if row["rank"] == 1 else _p(row["p"]),
            ]
        )
    return cells


# cplx: complexity (0 = dummy); fit/pred s: mean seconds per fold; gap: how much worse than the best model, in the metric's units; p: one-sided test that the best is better.
HEADERS = ("#", "model", "cplx", "score", "fit s", "pred s", "gap", "p")


def _failures(comparison: Comparison) -> list[str]:
    failed = comparison.summary.filter(comparison.summary["failed_folds"] > 0)
    return [
        f"{r['model']} failed on {r['failed_folds']} fold(s): {r['error']}"
        for r in failed.iter_rows(named=True)
    ]


def _warnings(comparison: Comparison) -> list[str]:
    """One line per model whose folds gave warnings: how many folds, and the first warning."""
    warned = comparison.results.filter(pl.col("warning").is_not_null())
    lines = []
    for model in dict.fromkeys(warned["model"]):
        part = warned.filter(pl.col("model") == model)
        total = comparison.results.filter(pl.col("model") == model).height
        lines.append(f"{model} warned on {part.height} of {total} fold(s): {part['warning'][0]}")
    return lines


def _unproven(comparison: Comparison) -> list[str]:
    """One line naming the models the t-test could not tell from the best, nor from the dummy baseline."""
    alpha = comparison.recommendation.alpha
    rows = comparison.summary.filter((pl.col("p") >= alpha) & (pl.col("p_dummy") >= alpha)).rows(named=True)
    if not rows:
        return []
    named = ", ".join(f"{row['model']} (p={row['p_dummy']:.3g})" for row in rows)
    return [
        f"Not recommended: {named}: not significantly worse than the best, but not significantly better than "
        f"{comparison.recommendation.baseline} either"
    ]


def _title(comparison: Comparison) -> str:
    c = comparison
    direction = "higher" if c.metric.greater_is_better else "lower"
    return f"{c.metric.title} ({direction} is better), {c.scheme} on {c.rows}, target {c.target!r} ({c.task})"


def print_summary(comparison: Comparison, console: Console | None = None) -> None:
    """Print the ranked table (recommended model in green), failures, and the recommendation's evidence."""
    console = console or Console()
    c = comparison
    view = Table(box=box.SIMPLE_HEAD, title=_title(c), pad_edge=False, collapse_padding=True)
    for header in HEADERS:
        view.add_column(header, justify="left" if header == "model" else "right", no_wrap=True)
    for cells in _rows(c):
        view.add_row(*map(escape, cells), style="bold green" if cells[1] == c.recommendation.model else "")
    console.print(view)
    for line in _failures(c):
        console.print(f"[red]{escape(line)}[/red]")
    for line in _warnings(c) + _unproven(c):
        console.print(f"[yellow]{escape(line)}[/yellow]")
    console.print(f"[bold green]Recommended:[/bold green] {escape(c.recommendation.explain(c.metric))}")


def boxplot(comparison: Comparison, column: str, label: str, *, log: bool = False) -> Figure:
    """Boxplots of ``column`` per model, best first from the left; the recommended model in green."""
    from matplotlib.figure import Figure

    results = comparison.results.filter(comparison.results["error"].is_null())
    names = [n for n in comparison.summary["model"] if (results["model"] == n).any()]
    values = [results.filter(results["model"] == n)[column].to_numpy() for n in names]
    figure = Figure(figsize=(1.1 * len(names) + 2.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    boxes = axes.boxplot(values, patch_artist=True)
    for name, patch in zip(names, boxes["boxes"], strict=True):
        patch.set_facecolor("#7fc97f" if name == comparison.recommendation.model else "#d9d9d9")
    axes.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
    if log:
        axes.set_yscale("log")
    axes.set_ylabel(label)
    axes.set_title(f"{label} per fold ({comparison.scheme})")
    return figure


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def to_html(comparison: Comparison) -> str:
    """A self-contained page: settings, the ranked table, the recommendation and the two plots inline."""
    c = comparison
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join(
        f"<tr class='{'rec' if cells[1] == c.recommendation.model else ''}'>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        + "</tr>"
        for cells in _rows(c)
    )
    images = "".join(
        f"<img alt='{alt}' src='data:image/png;base64,{base64.b64encode(png(figure)).decode()}'>"
        for alt, figure in (("scores per fold", c.plot_scores()), ("fit times per fold", c.plot_times()))
    )
    direction = "higher" if c.metric.greater_is_better else "lower"
    failures = "".join(f"<p class='failed'>{html.escape(line)}</p>" for line in _failures(c))
    failures += "".join(f"<p class='warned'>{html.escape(line)}</p>" for line in _warnings(c) + _unproven(c))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fieldguide compare: {html.escape(c.target)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; }}
td {{ text-align: right; }} td:nth-child(2) {{ text-align: left; }} .failed {{ color: #b2182b; }} .warned {{ color: #8c510a; }}
tr.rec {{ background: #e5f5e0; font-weight: bold; }} img {{ display: block; margin: 1em 0; max-width: 100%; }}
.rec-box {{ border-left: 4px solid #41ab5d; padding: 0.5em 1em; background: #f7fcf5; }}
</style></head><body>
<h1>Model comparison: {html.escape(c.target)} ({html.escape(c.task)})</h1>
<p>{html.escape(c.rows)}; {html.escape(c.scheme)} cross-validation, the same folds for every model
(seed {c.seed}); {html.escape(c.metric.title)}, {direction} is better. Times are per fold, in seconds.</p>
<p class="rec-box"><b>Recommended:</b> {html.escape(c.recommendation.explain(c.metric))}</p>
<table><caption>{html.escape(_title(c))}. cplx: complexity (0 dummy, 1 linear, 2 naive Bayes/kNN/trees,
3 factorization machines, 4 MLPs/forests/boosters); gap: how much worse than the best model; p: one-sided
corrected resampled t-test that the best model is better</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{failures}
{images}
</body></html>
"""
