"""How an evaluation and a gate look: Rich tables in the terminal, matplotlib figures, one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from fieldguide.evaluate._metrics import GAPS, METRICS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fieldguide.evaluate._evaluate import Evaluation
    from fieldguide.evaluate._gate import GateVerdict
    from fieldguide.evaluate._metrics import Estimate


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _estimate(est: Estimate) -> str:
    return f"{est.value:.4f} [{est.low:.4f}, {est.high:.4f}]"


def metrics_table(evaluations: list[Evaluation]) -> Table:
    """Overall metrics with their intervals, one column per model."""
    confidence = evaluations[0].settings["confidence"]
    table = Table(title=f"Holdout metrics ({evaluations[0].rows} rows, {confidence:.0%} bootstrap intervals)")
    table.add_column("metric")
    for ev in evaluations:
        table.add_column(ev.model, justify="right")
    for name in evaluations[0].metrics:
        cells = [_estimate(ev.metrics[name]) if name in ev.metrics else "-" for ev in evaluations]
        table.add_row(METRICS[name].title, *cells)
    return table


def verdict_table(verdict: GateVerdict) -> Table:
    """Each rule of the gate: champion, challenger, delta (with its paired interval), threshold, pass/fail."""
    table = Table(title=f"Gate: {verdict.challenger} vs {verdict.champion or 'no champion'}")
    for column in ("rule", "champion", "challenger", "delta [interval]", "max worsening", "result"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rule in verdict.rules:
        delta = "-" if rule.delta is None else f"{rule.delta:+.4f}"
        if rule.interval is not None:
            delta += f" [{rule.interval[0]:+.4f}, {rule.interval[1]:+.4f}]"
        result = "[green]pass[/green]" if rule.passed else "[bold red]FAIL[/bold red]"
        table.add_row(
            rule.name, _number(rule.champion), _number(rule.challenger), delta, f"{rule.threshold:g}", result
        )
    return table


def print_gate(console: Console, evaluations: list[Evaluation], verdict: GateVerdict | None) -> None:
    """The metrics, the gate's evidence table, its notes and the verdict line."""
    console.print(metrics_table(evaluations))
    for ev in evaluations:
        for note in ev.notes:
            console.print(f"note ({ev.model}): {note}", markup=False, style="yellow")
    if verdict is None:
        return
    console.print(verdict_table(verdict))
    for note in verdict.notes:
        console.print(f"note: {note}", markup=False, style="yellow")
    style = "bold green" if verdict.passed else "bold red"
    failed = f" ({len(verdict.failed)} of {len(verdict.rules)} rules failed)" if not verdict.passed else ""
    console.print(f"verdict: {verdict.verdict}{failed}", style=style, markup=False)


# -- figures -----------------------------------------------------------------------------------------------------


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def reliability_figure(evaluations: list[Evaluation]) -> Figure:
    """Observed rate against mean predicted probability per bin, one line per model, with the diagonal."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for ev in evaluations:
        cal = ev.calibration
        points = [(p, o) for p, o in zip(cal.predicted, cal.observed, strict=True) if p is not None]
        ax.plot(*zip(*points, strict=True), marker="o", label=f"{ev.model} (ECE {cal.ece:.3f})")
    kind = evaluations[0].calibration.kind
    ax.set(xlabel=f"mean predicted probability ({kind})", ylabel="observed rate", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize="small")
    return fig


def slice_figure(evaluations: list[Evaluation], column: str, metric: str) -> Figure:
    """``metric`` per value of ``column`` with its interval, grouped bars per model; small slices hatched."""
    from matplotlib.figure import Figure

    parts = [[s for s in ev.slices if s.column == column] for ev in evaluations]
    labels = [f"{s.value}\n(n={s.rows})" for s in parts[0]]
    fig = Figure(figsize=(max(5, 1.2 * len(labels) + 2), 4))
    ax = fig.add_subplot()
    width = 0.8 / len(evaluations)
    for i, (ev, slices) in enumerate(zip(evaluations, parts, strict=True)):
        values = [s.metrics[metric].value for s in slices]
        errors = [
            [max(v - s.metrics[metric].low, 0) for v, s in zip(values, slices, strict=True)],
            [max(s.metrics[metric].high - v, 0) for v, s in zip(values, slices, strict=True)],
        ]
        positions = [j + (i - (len(evaluations) - 1) / 2) * width for j in range(len(slices))]
        bars = ax.bar(positions, values, width, yerr=errors, capsize=3, label=ev.model)
        for bar, s in zip(bars, slices, strict=True):
            if s.small:
                bar.set_hatch("//")
    ax.set_xticks(range(len(labels)), labels, fontsize="small")
    ax.set(ylabel=METRICS[metric].title, title=f"{METRICS[metric].title} by {column} (hatched: small slice)")
    ax.legend(fontsize="small")
    return fig


# -- HTML --------------------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}.pass{color:#1a7f37;font-weight:bold}
.fail{color:#c62828;font-weight:bold}.note{color:#8a6d00}img{max-width:100%}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(figure: Figure, alt: str) -> str:
    data = base64.b64encode(png(figure)).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def report_html(
    challenger: Evaluation, champion: Evaluation | None = None, verdict: GateVerdict | None = None
) -> str:
    """One self-contained page: verdict and its rules, metrics, slices, calibration and fairness, figures inline."""
    evaluations = [ev for ev in (champion, challenger) if ev is not None]
    esc = html.escape
    parts = [f"<h1>Evaluation of {esc(challenger.model)}</h1>"]
    parts.append(
        f"<p>{challenger.rows} holdout rows from {esc(str(challenger.settings['source']))}; target "
        f"<code>{esc(challenger.target)}</code> ({challenger.task}); "
        f"{challenger.settings['resamples']} bootstrap resamples, seed {challenger.settings['seed']}.</p>"
    )
    if verdict is not None:
        css = "pass" if verdict.passed else "fail"
        parts.append(f"<h2>Gate: <span class='{css}'>{verdict.verdict}</span></h2>")
        rows = []
        for rule in verdict.rules:
            interval = "" if rule.interval is None else f" [{rule.interval[0]:+.4f}, {rule.interval[1]:+.4f}]"
            delta = "-" if rule.delta is None else f"{rule.delta:+.4f}{interval}"
            result = "<span class='pass'>pass</span>" if rule.passed else "<span class='fail'>FAIL</span>"
            rows.append(
                [
                    esc(rule.name),
                    _number(rule.champion),
                    _number(rule.challenger),
                    delta,
                    f"{rule.threshold:g}",
                    result,
                ]
            )
        parts.append(
            _table(["rule", "champion", "challenger", "delta [interval]", "max worsening", "result"], rows)
        )
    notes = [*(verdict.notes if verdict else []), *(n for ev in evaluations for n in ev.notes)]
    parts += [f"<p class='note'>note: {esc(note)}</p>" for note in notes]

    parts.append("<h2>Metrics</h2>")
    rows = [
        [
            METRICS[name].title,
            *(_estimate(ev.metrics[name]) if name in ev.metrics else "-" for ev in evaluations),
        ]
        for name in challenger.metrics
    ]
    parts.append(_table(["metric", *(ev.model for ev in evaluations)], rows))

    metric = verdict.metric if verdict else next(iter(challenger.metrics))
    for column in challenger.settings["slices"]:
        parts.append(f"<h2>Slices by {esc(column)}</h2>")
        rows = []
        for i, part in enumerate(s for s in challenger.slices if s.column == column):
            cells = [esc(part.value), str(part.rows) + (" (small)" if part.small else "")]
            for ev in evaluations:
                match = [s for s in ev.slices if s.column == column][i]
                cells.append(_estimate(match.metrics[metric]))
            rows.append(cells)
        parts.append(_table([column, "rows", *(f"{ev.model} {metric}" for ev in evaluations)], rows))
        parts.append(_img(slice_figure(evaluations, column, metric), f"{metric} by {column}"))

    if challenger.calibration is not None:
        parts.append("<h2>Calibration</h2>")
        rows = [
            [esc(ev.model), f"{ev.calibration.ece:.4f}", f"{ev.calibration.brier:.4f}"]
            for ev in evaluations
            if ev.calibration is not None
        ]
        parts.append(_table(["model", "expected calibration error", "Brier score"], rows))
        parts.append(
            _img(reliability_figure([ev for ev in evaluations if ev.calibration]), "reliability diagram")
        )

    if challenger.fairness is not None:
        parts.append(f"<h2>Fairness by {esc(challenger.fairness.column)}</h2>")
        for ev in evaluations:
            fair = ev.fairness
            rows = [
                [esc(g), str(r["rows"]), _number(r["selection_rate"]), _number(r["tpr"]), _number(r["fpr"])]
                for g, r in fair.groups.items()
            ]
            parts.append(f"<h3>{esc(ev.model)}</h3>")
            parts.append(_table(["group", "rows", "selection rate", "TPR", "FPR"], rows))
            gaps = [[GAPS[name], _estimate(est)] for name, est in fair.gaps.items()]
            parts.append(_table(["gap between groups", "value [interval]"], gaps))

    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>fieldguide evaluate</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def report_json(
    challenger: Evaluation, champion: Evaluation | None = None, verdict: GateVerdict | None = None
) -> str:
    """The evaluations and the verdict as one JSON document."""
    document: dict[str, Any] = {
        "challenger": challenger.to_dict(),
        "champion": None if champion is None else champion.to_dict(),
        "verdict": None if verdict is None else verdict.to_dict(),
    }
    return json.dumps(document, indent=1)
