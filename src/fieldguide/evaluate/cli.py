"""CLI verbs of this capability (registered by ``fieldguide.cli``): ``fieldguide evaluate`` and ``promote``.

Only Typer and the standard library load here; NumPy, Polars, the registry and Rich load inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from fieldguide import _options


def register(app: typer.Typer) -> None:
    """Add this capability's verbs to ``app``."""
    app.command("evaluate")(evaluate_command)
    app.command("promote")(promote_command)


def evaluate_command(
    name: str = typer.Argument(..., help="Registered model name."),
    challenger: str = typer.Option(..., "--challenger", help="Version (or alias) to evaluate and gate."),
    champion: str = typer.Option(
        None, "--champion", help="Version or alias to compare with. Default: the 'champion' alias, if set."
    ),
    data: str = typer.Option(
        ...,
        "--data",
        help="Holdout table: CSV/Parquet/JSON-lines file (or .gz), or a database URL with --query.",
    ),
    query: str = _options.QUERY,
    target: str = typer.Option(
        None, "--target", "-t", help="Holdout column with the truth. Default: the model's."
    ),
    slices: str = typer.Option(
        None, "--slices", help="Comma-separated columns to compute metrics per value of."
    ),
    sensitive: str = typer.Option(None, "--sensitive", help="Column whose groups the fairness gaps compare."),
    metric: str = typer.Option(
        None, "--metric", help="Metric the gate compares. Default: roc_auc, log_loss or rmse."
    ),
    max_drop: float = typer.Option(
        0.01, "--max-drop", help="Largest worsening of the overall metric allowed."
    ),
    max_slice_drop: float = typer.Option(
        0.05, "--max-slice-drop", help="Largest worsening on any slice allowed."
    ),
    min_slice_rows: int = typer.Option(
        30, "--min-slice-rows", help="Smaller slices and groups are not gated."
    ),
    max_fairness_increase: float = typer.Option(
        0.02, "--max-fairness-increase", help="Largest growth of any fairness gap allowed."
    ),
    evidence: str = typer.Option(
        "point",
        "--evidence",
        help="'point': a rule fails when the point estimate is beyond its threshold; 'interval': only when the "
        "whole paired bootstrap interval is (small slices and groups are noisy).",
    ),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resamples."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    json_path: Path = typer.Option(
        None, "--json", help="Write the evaluations and the verdict as JSON here."
    ),
    registry: str = _options.REGISTRY,
) -> None:
    """Evaluate a challenger version on a holdout, compare it with the champion on the same rows, and gate it.

    The verdict is recorded in the registry on the challenger version. Exit codes: 0 PASS, 1 FAIL, 2 bad
    arguments or data.
    """
    with _reporting_errors() as console:
        from fieldguide._files import atomic_write_bytes
        from fieldguide.cli import comma_list, table_source
        from fieldguide.evaluate import report_html, report_json, run_gate
        from fieldguide.evaluate._render import print_gate

        run = run_gate(
            name,
            challenger,
            table_source(data, query, "--data"),
            champion=champion,
            target=target,
            slices=comma_list(slices),
            sensitive=sensitive,
            metric=metric,
            max_drop=max_drop,
            max_slice_drop=max_slice_drop,
            min_slice_rows=min_slice_rows,
            max_fairness_increase=max_fairness_increase,
            evidence=evidence,
            resamples=resamples,
            seed=seed,
            registry=registry,
            progress=console.is_terminal,
        )
        reports = (run.challenger, run.champion, run.verdict)
        if json_path is not None:
            atomic_write_bytes(json_path, report_json(*reports).encode())
        if html is not None:
            atomic_write_bytes(html, report_html(*reports).encode())
        print_gate(console, [ev for ev in (run.champion, run.challenger) if ev is not None], run.verdict)
    if not run.verdict.passed:
        raise typer.Exit(1)


def promote_command(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version to make the champion."),
    force: bool = typer.Option(
        False, "--force", help="Promote even without a passing gate (needs --reason)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why; recorded in the registry's audit trail."),
    registry: str = _options.REGISTRY,
) -> None:
    """Point the 'champion' alias of NAME at VERSION, if its latest gate verdict passed.

    Exit codes: 0 promoted, 1 refused (never gated, failed, or gated against another champion), 2 bad arguments.
    """
    with _reporting_errors() as console:
        from fieldguide.evaluate import promote

        event = promote(name, version, force=force, reason=reason, registry=registry)
        was = event.detail["previous"]
        forced = " (forced: " + event.detail["override"] + ")" if event.detail["forced"] else ""
        console.print(
            f"{name}: champion → version {event.version}{'' if was is None else f' (was {was})'}{forced}",
            markup=False,
        )


@contextmanager
def _reporting_errors() -> Iterator[Any]:
    """Yield a Rich console; a FieldguideError becomes one red line on stderr and its exit code."""
    from rich.console import Console

    from fieldguide.errors import FieldguideError

    console = Console()
    try:
        yield console if console.is_terminal else Console(width=140)
    except FieldguideError as err:
        Console(stderr=True, soft_wrap=True).print(
            f"error: {err}", style="red", markup=False, highlight=False
        )
        raise typer.Exit(err.exit_code) from None
