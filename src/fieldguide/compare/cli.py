"""CLI verbs of this capability (registered by ``fieldguide.cli``): ``fieldguide compare``."""

from __future__ import annotations

from pathlib import Path

import typer

from fieldguide import _options


def register(app: typer.Typer) -> None:
    """Add this capability's verbs to ``app``."""
    app.command("compare")(compare_command)


def compare_command(
    data: str = typer.Argument(
        ...,
        help="Table to learn from: a CSV/Parquet/JSON-lines file (or .gz), or a database URL with --query.",
    ),
    query: str = _options.QUERY,
    target: str = typer.Option(..., "--target", "-t", help="Column to predict."),
    models: str = typer.Option(
        None, "--models", help="Comma-separated model names (default: every zoo model for the task)."
    ),
    metric: str = typer.Option(
        None, "--metric", help="roc_auc, log_loss, accuracy, f1, rmse, mae, r2, … (default by task)."
    ),
    ignore: str = _options.IGNORE,
    missing: str = _options.MISSING,
    folds: int = typer.Option(5, "--folds", help="Folds per repeat of k-fold cross-validation."),
    repeats: int = typer.Option(
        None, "--repeats", help="Repeats of k-fold, each with fresh folds. Default 2; 1 with --time."
    ),
    time: str = _options.TIME,
    sample: int = typer.Option(
        None,
        "--sample",
        help="Compare on a seeded sample of N labelled rows (stratified by class): a first look at a large table.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the folds and of the models."),
    backend: str = typer.Option("local", "--backend", help="Where folds run: local or ray."),
    address: str = _options.ADDRESS,
    gpus_per_task: float = _options.GPUS_PER_TASK,
    jobs: int = typer.Option(
        None, "--jobs", help="Worker processes of the local back end (default: in-process; -1: every core)."
    ),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    plots: Path = typer.Option(None, "--plots", help="Write scores.png and fit_times.png into this folder."),
    json_path: Path = typer.Option(
        None, "--json", help="Write per-fold results, summary and recommendation."
    ),
) -> None:
    """Cross-validate the zoo on the same folds and recommend the simplest model that is not worse than the best.

    Exit codes: 0 when compared, 2 for bad arguments or an unreadable table.
    """
    from rich.console import Console
    from rich.markup import escape

    from fieldguide._backend import get_backend
    from fieldguide._files import atomic_write_bytes
    from fieldguide.cli import column_values, comma_list, table_source
    from fieldguide.compare import compare, print_summary
    from fieldguide.compare._render import png
    from fieldguide.errors import FieldguideError

    err = Console(stderr=True)
    try:
        if backend == "local" and address is not None:
            raise FieldguideError("--address is for --backend ray")
        if backend == "local" and gpus_per_task is not None:
            raise FieldguideError("--gpus-per-task is for --backend ray")
        if backend == "ray" and jobs is not None:
            raise FieldguideError("--jobs is for --backend local; Ray schedules its own workers")
        ray_options = {"address": address, "gpus_per_task": gpus_per_task or 0.0}
        options = ray_options if backend == "ray" else {"n_jobs": jobs}
        result = compare(
            table_source(data, query),
            target,
            models=comma_list(models) or None,
            metric=metric,
            ignore=comma_list(ignore),
            missing=column_values(missing),
            folds=folds,
            repeats=repeats,
            time=time,
            sample=sample,
            seed=seed,
            backend=get_backend(backend, **options),
        )
        if json_path is not None:
            atomic_write_bytes(json_path, result.to_json().encode())
        if html is not None:
            atomic_write_bytes(html, result.to_html().encode())
        if plots is not None:
            plots.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(plots / "scores.png", png(result.plot_scores()))
            atomic_write_bytes(plots / "fit_times.png", png(result.plot_times()))
    except FieldguideError as error:
        err.print(f"[red]{escape(str(error))}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    console = Console()
    print_summary(result, console if console.is_terminal else Console(width=120))
