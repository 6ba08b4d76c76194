"""The search in the terminal: a live progress bar while trials run, and the Rich summary at the end."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

LEADERS = 10


@contextmanager
def search_progress(budget: float | None, trials: int | None, metric: Any, show: bool):
    """Yields ``update(model, outcome, elapsed_s)``, called as each trial ends: a bar over the budget's seconds
    (or the trials) with the best score so far."""
    if not show:
        yield lambda model, outcome, elapsed: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    total = float(budget) if budget is not None else float(trials)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    best: list[Any] = []
    count = [0]
    sign = 1.0 if metric.greater_is_better else -1.0
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("Searching", total=total, status="")

        def update(model: str, outcome: Any, elapsed: float) -> None:
            count[0] += 1
            if outcome.state == "complete" and (not best or sign * outcome.score > sign * best[0]):
                best[:] = [outcome.score, model]
            leader = f"best {metric.name} {best[0]:.4g} ({best[1]})" if best else "no trial finished yet"
            progress.update(
                task,
                completed=min(elapsed, total) if budget is not None else count[0],
                status=f"{count[0]} trials · {leader}",
            )

        yield update


def print_summary(result: Any, console: Any) -> None:
    """The leaderboard of the top trials, the chosen model, the registered version and the budget used."""
    from rich.table import Table

    metric = result.metric
    counts = result.counts()
    console.print(
        f"[bold]Search[/bold] for {result.target!r} ({result.task}): {len(result.trials)} trials "
        f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed"
        + (f", {counts['budget']} stopped by the budget" if counts["budget"] else "")
        + f"), scored by {metric.title} on {result.evaluation}, seed {result.seed}.",
        highlight=False,
    )
    chosen = {record.number for record, _ in result.members}
    table = Table("rank", "trial", "model", metric.title, "time (s)", "hyperparameters", title="Leaderboard")
    for rank, record in enumerate(result.leaderboard[:LEADERS], start=1):
        style = "bold green" if record.number in chosen else None
        params = ", ".join(f"{k}={_short(v)}" for k, v in record.params.items())
        table.add_row(
            str(rank),
            str(record.number),
            record.model,
            f"{record.score:.4g}",
            f"{record.duration_s:.2f}",
            params,
            style=style,
        )
    console.print(table)
    if result.is_ensemble:
        total = sum(w for _, w in result.members)
        parts = ", ".join(f"{r.model} (trial {r.number}) ×{w / total:.2f}" for r, w in result.members)
        console.print(
            f"Chosen: an ensemble of {len(result.members)}: {parts}; {metric.title} {result.score:.4g} vs "
            f"{result.best_single_score:.4g} for the best single model.",
            highlight=False,
        )
    else:
        record = result.members[0][0]
        console.print(
            f"Chosen: {record.model} (trial {record.number}), {metric.title} {result.score:.4g}.",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"Note: {note}", highlight=False)
    if result.registered is not None:
        name, version = result.registered.name, result.registered.version
        console.print(f"Registered [bold]{name}[/bold] version {version}.", highlight=False)
        console.print(
            f"Next: gate it on rows it never saw (fieldguide evaluate {name} --challenger {version} --data "
            f"HOLDOUT), promote it (fieldguide promote {name} {version}), serve the champion (fieldguide serve "
            f"{name}); or serve it as it is: fieldguide serve {name} --version {version}",
            highlight=False,
            markup=False,
        )
    if result.export is not None:
        console.print(f"Exported the pipeline as a script: {result.export}", highlight=False)
    console.print(_budget_line(result), highlight=False)


def _budget_line(result: Any) -> str:
    if result.budget_s is None:
        return f"Time: {result.wall_s:.1f} s (no budget; refit {result.refit_s:.1f} s)."
    over = result.overrun_s
    verdict = (
        f"overrun {over:+.1f} s ({100 * over / result.budget_s:+.1f} %)"
        if over > 0
        else f"{-over:.1f} s to spare"
    )
    return (
        f"Budget: {result.wall_s:.1f} s used of {result.budget_s:g} s, {verdict} "
        f"(refit {result.refit_s:.1f} s, registration and export included)."
    )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
