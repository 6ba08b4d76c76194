"""CLI verbs of this capability (registered by ``fieldguide.cli``): ``fieldguide train``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import typer

from fieldguide import _options

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)?\s*$")
_UNIT_S = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def register(app: typer.Typer) -> None:
    """Add this capability's verbs to ``app``."""
    app.command("train")(train_command)


def parse_duration(text: str) -> float:
    """Seconds in ``"60"``, ``"60s"``, ``"1.5m"`` or ``"1h"``; ``ValueError`` otherwise.

    >>> parse_duration("90s"), parse_duration("1.5m")
    (90.0, 90.0)
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"--budget: expected a duration such as 60s, 2m or 1h, found {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def train_command(
    data: str = typer.Argument(
        ...,
        help="Table to learn from: a CSV/Parquet/JSON-lines file (or .gz), or a database URL with --query.",
    ),
    query: str = _options.QUERY,
    target: str = typer.Option(..., "--target", "-t", help="Column to predict."),
    budget: str = typer.Option(
        None,
        "--budget",
        help="Time for the whole search, refit and registration included (60s, 2m). Default 60s.",
    ),
    trials: int = typer.Option(
        None, "--trials", help="Stop after N trials; without --budget, a seeded run is reproducible."
    ),
    metric: str = typer.Option(None, "--metric", help="roc_auc, log_loss, rmse, … Default by task."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler, the folds and the models."),
    name: str = typer.Option(
        None, "--name", help="Registry name. Default: the data file's name (required with --query)."
    ),
    export: Path = typer.Option(None, "--export", help="Write a Python script that rebuilds the pipeline."),
    models: str = typer.Option(
        None, "--models", help="Comma-separated zoo models to search. Default: a strong set."
    ),
    ignore: str = _options.IGNORE,
    missing: str = _options.MISSING,
    time_column: str = _options.TIME,
    backend: str = typer.Option("local", "--backend", help="local (in this process) or ray."),
    address: str = _options.ADDRESS,
    gpus_per_task: float = _options.GPUS_PER_TASK,
    registry: str = _options.REGISTRY,
) -> None:
    """Search the zoo for the best model within a time budget, refit it, register it and print a summary."""
    started = time.perf_counter()  # the budget counts the imports below
    from rich.console import Console
    from rich.markup import escape

    from fieldguide.errors import FieldguideError

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        seconds = parse_duration(budget) if budget is not None else (None if trials is not None else 60.0)
    except ValueError as error:
        err.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from None
    for flag, value in (("--address", address), ("--gpus-per-task", gpus_per_task)):
        if value is not None and backend != "ray":
            err.print(f"[red]{flag}: only with --backend ray[/red]")
            raise typer.Exit(2)
    try:
        from fieldguide._backend import get_backend
        from fieldguide.cli import column_values, comma_list, table_source
        from fieldguide.search import print_summary, search

        source = table_source(data, query)
        if query is not None and name is None:
            raise FieldguideError(
                "--name: a table read by --query has no file name to register it under; give --name"
            )
        ray_options = {"address": address, "gpus_per_task": gpus_per_task or 0.0}
        runner = get_backend(backend, **ray_options) if backend == "ray" else get_backend(backend)
        result = search(
            source,
            target,
            budget=seconds,
            trials=trials,
            metric=metric,
            seed=seed,
            backend=runner,
            name=name,
            registry=registry,
            export=export,
            models=None if models is None else comma_list(models),
            ignore=comma_list(ignore),
            missing=column_values(missing),
            time=time_column,
            started=started,
        )
    except FieldguideError as error:
        err.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(error.exit_code) from None
    print_summary(result, Console())
