"""CLI verbs of this capability (registered by ``fieldguide.cli``): ``fieldguide check``."""

from __future__ import annotations

from pathlib import Path

import typer

from fieldguide import _options


def register(app: typer.Typer) -> None:
    """Add this capability's verbs to ``app``."""
    app.command("check")(check_command)


def check_command(
    data: str = typer.Argument(
        None,
        help=(
            "Table to grade: a CSV/Parquet/JSON-lines file (or .gz), a directory or glob of Parquet files, or a "
            "database URL with --query."
        ),
    ),
    query: str = _options.QUERY,
    target: str = typer.Option(None, "--target", "-t", help="Column to predict; grades band A."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    json_path: Path = typer.Option(None, "--json", help="Write the findings as JSON here."),
    ignore: str = _options.IGNORE,
    missing: str = _options.MISSING,
    require: str = typer.Option(None, "--require", help="Exit 1 when the level is below this one (e.g. B1)."),
    demo: bool = typer.Option(False, "--demo", help="Grade a bundled table with a few planted defects."),
    seed: int = typer.Option(0, "--seed", help="Seed of samples and cross-validation folds."),
    sample: int = typer.Option(
        None,
        "--sample",
        help=(
            "Hold a seeded sample of about N rows in memory; a Parquet table is read in streaming passes, its "
            "counts over every row. Default: 1,000,000 for a Parquet table larger than a quarter of the free "
            "memory; every row otherwise."
        ),
    ),
) -> None:
    """Grade a table on the data readiness levels C4 (worst) … A1 (best) and say what to fix.

    Exit codes: 0 when graded (and at least --require), 1 when below --require, 2 when the input cannot be read.
    """
    from rich.console import Console
    from rich.markup import escape

    from fieldguide._files import atomic_write_bytes
    from fieldguide.cli import column_values, comma_list, table_source
    from fieldguide.errors import FieldguideError
    from fieldguide.readiness import LEVELS, check
    from fieldguide.readiness._demo import TARGET, demo_table
    from fieldguide.readiness._render import print_summary, to_html

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if require is not None and require.upper() not in LEVELS:
        err.print(f"[red]--require: expected one of {', '.join(LEVELS)}, found {require!r}[/red]")
        raise typer.Exit(2)
    if demo == (data is not None):
        err.print("[red]give either a DATA file or --demo[/red]")
        raise typer.Exit(2)
    if demo and query is not None:
        err.print("[red]--query: not with --demo, which grades a bundled table[/red]")
        raise typer.Exit(2)
    try:
        table = demo_table() if demo else table_source(data, query)
        report = check(
            table,
            (target or TARGET) if demo else target,
            ignore=comma_list(ignore),
            missing=column_values(missing),
            seed=seed,
            sample=sample,
        )
        if demo:
            report.source = "demo: customers with planted defects"
        if json_path is not None:
            atomic_write_bytes(json_path, report.to_json().encode())
        if html is not None:
            atomic_write_bytes(html, to_html(report).encode())
    except FieldguideError as error:
        err.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(error.exit_code) from None
    if report.n_rows == 0:  # nothing to grade: C-1 load or C-2 schema failed
        unreadable = next(f for f in report.findings if f.lowers_level)
        err.print(f"[red]{escape(unreadable.message)}[/red]")
        raise typer.Exit(2)
    print_summary(report, Console())
    if require is not None and not report.meets(require.upper()):
        err.print(f"[red]level {report.level} is below the required {require.upper()}[/red]")
        raise typer.Exit(1)
