"""``fieldguide serve``: serve a registered model over HTTP.

Only Typer and the standard library load here; Starlette, uvicorn and the registry load inside the command.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from fieldguide import _options

ADMIN_TOKEN_ENV = "FIELDGUIDE_ADMIN_TOKEN"


def register(app: typer.Typer) -> None:
    """Add the ``serve`` and ``predict`` verbs to ``app``."""
    app.command("serve")(serve)
    app.command("predict")(predict)


def serve(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = typer.Option(
        "champion", "--alias", help="Alias to serve and follow (hot reload when it moves)."
    ),
    version: int | None = typer.Option(
        None, "--version", help="Serve this version instead of an alias (no reload)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes the server."),
    port: int = typer.Option(8000, "--port", help="Port to bind."),
    registry: str | None = _options.REGISTRY,
    artifacts: Path | None = _options.ARTIFACTS,
    log_database: str | None = typer.Option(
        None,
        "--log-database",
        help="SQLAlchemy URL for the prediction_log table. Default: the registry's database.",
        show_default=False,
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse unknown categories and unknown fields (HTTP 400)."
    ),
    max_batch_rows: int = typer.Option(1024, "--max-batch-rows", help="Rows per micro-batch, at most."),
    max_latency_ms: float = typer.Option(
        5.0, "--max-latency-ms", help="How long a request may wait for a batch to fill."
    ),
    max_body_bytes: int = typer.Option(
        8 << 20, "--max-body-bytes", help="Largest request body accepted (HTTP 413 above)."
    ),
    max_rows: int = typer.Option(10_000, "--max-rows", help="Most rows in one request (HTTP 413 above)."),
    poll_seconds: float = typer.Option(
        5.0, "--poll-seconds", help="How often to check whether the alias moved; 0 never."
    ),
) -> None:
    """Serve model NAME: Open Inference Protocol v2, POST /predict, /metrics, /openapi.json.

    Admin routes (POST /admin/reload, /admin/flush-log) need $FIELDGUIDE_ADMIN_TOKEN as a bearer token and are
    off when it is unset.
    """
    from rich.console import Console

    from fieldguide import _config
    from fieldguide.errors import FieldguideError

    console = Console(stderr=True)
    try:
        import uvicorn

        from fieldguide.registry import Registry
        from fieldguide.serve import ModelSource, ServeSettings, create_app

        settings = ServeSettings(
            max_batch_rows=max_batch_rows,
            max_latency_ms=max_latency_ms,
            max_body_bytes=max_body_bytes,
            max_rows=max_rows,
            strict=strict,
            poll_s=poll_seconds,
            admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
        )
        url = registry or _config.registry_url()
        store = Registry(url, artifact_root=artifacts)
        if version is None and alias not in store.aliases(name):
            raise FieldguideError(_no_alias(store, name, alias))
        source = ModelSource(store, name, alias if version is None else version)
        served = source.load(source.current_version())
        app = create_app(source, settings, log_url=log_database or url, served=served)
    except FieldguideError as err:
        console.print(f"error: {err}", style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(err.exit_code) from None
    following = "pinned" if source.pinned else f"following alias {alias!r}"
    admin = "on" if settings.admin_token else f"off (set {ADMIN_TOKEN_ENV} to enable)"
    console.print(
        f"serving {name} version {served.version} ({following}) on http://{host}:{port}; admin routes {admin}",
        markup=False,
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=30)


_WRITERS = {
    ".csv": "write_csv",
    ".parquet": "write_parquet",
    ".jsonl": "write_ndjson",
    ".ndjson": "write_ndjson",
}
_CHUNK_ROWS = 100_000


def predict(
    name: str = typer.Argument(..., help="Registered model name."),
    data: str = typer.Option(
        ...,
        "--data",
        help="Table to score: CSV/Parquet/JSON-lines file (or .gz), or a database URL with --query.",
    ),
    query: str | None = _options.QUERY,
    out: str = typer.Option(
        ...,
        "--out",
        help="Where to write the predictions: a .csv, .parquet or .jsonl file, or a database URL with --table.",
    ),
    table: str | None = typer.Option(
        None, "--table", help="With a database URL as --out: the table to write, e.g. analytics.churn_scores."
    ),
    if_exists: str = typer.Option(
        "fail", "--if-exists", help="When --table exists: fail, replace it, or append to it (same columns)."
    ),
    alias: str = typer.Option("champion", "--alias", help="Alias of the version to use."),
    version: int | None = typer.Option(None, "--version", help="Use this version instead of an alias."),
    keep: str | None = typer.Option(
        None,
        "--keep",
        help="Input columns to copy beside the predictions (comma-separated). Default: the schema's identifier "
        "columns, so that rows can be joined back.",
        show_default=False,
    ),
    registry: str | None = _options.REGISTRY,
    artifacts: Path | None = _options.ARTIFACTS,
) -> None:
    """Score a table with model NAME: batch prediction to a file or a database table.

    One row out per row in: the identifier columns (or --keep), the prediction and, for classifiers, one
    probability column per class (p_<label>). Rows that break the training schema stop it with the violations
    named; nothing is written then. A file appears whole or not at all, and so do a table's rows (one
    transaction).
    """
    from rich.console import Console

    from fieldguide import _config
    from fieldguide.cli import comma_list, table_source
    from fieldguide.errors import FieldguideError

    console = Console(stderr=True)
    try:
        written, summary = _predict_file(
            name,
            table_source(data, query, "--data"),
            (out, table, if_exists),
            alias,
            version,
            comma_list(keep) if keep else None,
            registry or _config.registry_url(),
            artifacts,
        )
    except FieldguideError as err:
        console.print(f"error: {err}", style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(err.exit_code) from None
    Console().print(f"wrote {written}: {summary}", markup=False, highlight=False)


def _predict_file(name, data, out, alias, version, keep, url, artifacts) -> tuple[str, str]:
    import polars as pl
    from rich.console import Console
    from rich.progress import track

    from fieldguide.data import read
    from fieldguide.errors import DataError, FieldguideError
    from fieldguide.pipeline import Pipeline
    from fieldguide.registry import Registry

    write = _output(*out)  # checked before the model is loaded and the rows scored
    with Registry(url, artifact_root=artifacts) as store:
        if version is None and alias not in store.aliases(name):
            raise FieldguideError(_no_alias(store, name, alias, "predict"))
        found = store.get(name, alias if version is None else version)
        pipeline = Pipeline.load(store.open(name, found.version))
    table = read(data)
    if keep is None:
        keep = [c.name for c in pipeline.schema.columns if c.role == "identifier" and c.name in table.columns]
    missing = [c for c in keep if c not in table.columns]
    if missing:
        raise DataError(f"--keep: column(s) {missing} are not in {data}; its columns are {table.columns}")
    starts = range(0, max(table.height, 1), _CHUNK_ROWS)
    parts = []
    bar = {"console": Console(stderr=True), "transient": True, "disable": len(starts) < 2}
    for start in track(starts, "scoring", **bar):
        rows = table.slice(start, _CHUNK_ROWS)
        predictions, proba = pipeline._outputs(pipeline._table_features(rows))  # validated, featurized once
        columns = {"prediction": predictions}
        if proba is not None:
            columns |= {f"p_{label}": proba[:, i] for i, label in enumerate(pipeline.classes_)}
        # built from columns: a select of no columns (no identifier, no --keep) would have no rows to extend
        parts.append(
            pl.DataFrame([rows.get_column(c) for c in keep] + [pl.Series(k, v) for k, v in columns.items()])
        )
    result = pl.concat(parts)
    kind = type(pipeline.model).__name__
    return write(result), f"{result.height:,} row(s) scored by {name} version {found.version} ({kind})"


def _output(out: str, table: str | None, if_exists: str) -> Callable[[Any], str]:
    """A function that writes the predictions where ``--out`` (and ``--table``) say and returns where, in
    words; every mistake the options can hold is refused here, before anything is scored."""
    from fieldguide.data._read import hide_password, is_url
    from fieldguide.data._write import IF_EXISTS, has_table, table_name, write_table
    from fieldguide.errors import DataError

    if if_exists not in IF_EXISTS:
        raise DataError(f"--if-exists: expected one of {', '.join(IF_EXISTS)}, found {if_exists!r}")
    if is_url(out):
        if table is None:
            raise DataError("--out: a database URL needs --table NAME, the table to write the predictions to")
        table_name(table)
        if if_exists == "fail" and has_table(out, table):
            raise DataError(
                f"--table: {table} exists in {hide_password(out)}; give --if-exists replace or append"
            )

        def write_rows(result) -> str:
            write_table(result, out, table, if_exists)
            return f"{hide_password(out)} table {table}"

        return write_rows
    if table is not None:
        raise DataError("--table: only with a database URL as --out")
    path = Path(out)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise DataError(
            f"--out: expected a .csv, .parquet or .jsonl file or a database URL, found {path.name!r}"
        )
    if not path.parent.is_dir():
        raise DataError(f"--out: the directory {path.parent} does not exist")

    def write_file(result) -> str:
        staged = path.with_name(f".{path.name}.partial")  # beside the target: it appears whole or not at all
        try:
            getattr(result, writer)(staged)
            os.replace(staged, path)
        finally:
            staged.unlink(missing_ok=True)
        return str(path)

    return write_file


def _no_alias(registry, name: str, alias: str, verb: str = "serve") -> str:
    """Why model ``name`` cannot be used by ``alias`` yet, and the commands that would let ``verb`` use it."""
    latest = registry.get(name).version
    aliases = ", ".join(registry.aliases(name)) or "none"
    hint = f"{verb} a version as it is: fieldguide {verb} {name} --version {latest}"
    if alias == "champion":
        hint += (
            f"; or gate it and make it the champion: fieldguide evaluate {name} --challenger {latest} "
            f"--data HOLDOUT, then fieldguide promote {name} {latest}"
        )
    else:
        hint += f"; or point the alias at it: fieldguide models alias {name} {alias} {latest}"
    return f"model {name!r} has no alias {alias!r} (its aliases: {aliases}); {hint}"
