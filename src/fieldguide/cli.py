"""The ``fieldguide`` command line. Each capability adds its verbs through ``<capability>.cli.register``.

Capability CLI modules import only Typer at module level and load their heavy dependencies inside the
command, so ``fieldguide --help`` and ``fieldguide --version`` stay fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fieldguide import __version__
from fieldguide.errors import FieldguideError

if TYPE_CHECKING:
    from fieldguide.data import Query

# The capabilities whose verbs the CLI exposes, in the order a user meets them.
CAPABILITIES = ("readiness", "compare", "search", "evaluate", "registry", "serve")

app = typer.Typer(
    name="fieldguide",
    help="From a table to a served, monitored, retrainable model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def comma_list(text: str | None) -> list[str]:
    """The names in an option such as ``--models Ridge, Lasso``, spaces stripped and empty entries dropped.

    >>> comma_list(" instant, casual,,registered"), comma_list(None)
    (['instant', 'casual', 'registered'], [])
    """
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def column_values(text: str | None, option: str = "--missing") -> dict[str, list[str]]:
    """``COLUMN=VALUE`` items separated by commas, as a dict of each column's values (a column may repeat).

    >>> column_values("Glucose=0, BMI=0,job=unknown,job=n/a")
    {'Glucose': ['0'], 'BMI': ['0'], 'job': ['unknown', 'n/a']}
    """
    values: dict[str, list[str]] = {}
    for item in comma_list(text):
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise FieldguideError(
                f"{option}: expected COLUMN=VALUE items separated by commas, found {item!r}"
            )
        values.setdefault(name.strip(), []).append(value.strip())
    return values


def table_source(data: str, query: str | None, argument: str = "DATA") -> str | Query:
    """What a verb reads: the file ``data``, or with ``--query`` a ``fieldguide.data.Query`` on the database URL
    ``data``; ``--query @FILE`` reads the SQL from FILE.

    >>> table_source("t.csv", None), str(table_source("sqlite:///shop.db", "select * from orders"))
    ('t.csv', 'sqlite:///shop.db: select * from orders')
    """
    from fieldguide.data._read import is_url

    url = is_url(data)
    if query is None:
        if url:
            raise FieldguideError(
                f"{argument}: a database URL needs --query 'select …', the SQL of the table"
            )
        return data
    if not url:
        raise FieldguideError(
            f"--query: {argument} must be a database URL (sqlite:///f.db, postgresql+psycopg://user@host/db, "
            f"duckdb:///:memory:), found {data!r}"
        )
    from fieldguide.data import Query

    return Query(data, _sql_file(query[1:]) if query.startswith("@") else query)


def _sql_file(name: str) -> str:
    path = Path(name).expanduser()
    try:
        sql = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else str(err)
        raise FieldguideError(f"--query @{name}: could not read the SQL ({reason})") from None
    if not sql.strip():
        raise FieldguideError(f"--query @{name}: the file is empty, expected the SQL of a query")
    return sql


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fieldguide {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="A TOML file of settings and option defaults. Default: $FIELDGUIDE_CONFIG, else ./fieldguide.toml, "
        "else \\[tool.fieldguide] in ./pyproject.toml.",
        show_default=False,
    ),
) -> None:
    """From a table to a served, monitored, retrainable model."""
    from fieldguide import _config

    try:
        path = _config.config_file(config)
        if path is not None:
            ctx.default_map = _config.apply_config(path, _config.read_config(path), ctx.command.commands)
    except FieldguideError as err:
        _fail(err)


def _fail(err: FieldguideError) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"error: {err}", style="red", markup=False, highlight=False)
    raise typer.Exit(err.exit_code)


def show_config(ctx: typer.Context) -> None:
    """Show the settings in effect and where each comes from.

    The configuration file in use, home, registry and cache with their origin (file, environment variable or
    default; a password is never shown), and the option defaults the file gives each verb.
    """
    from rich.console import Console

    from fieldguide import _config

    console = Console()
    try:
        path = _config.config_file(ctx.find_root().params.get("config"))
        console.print(f"file: {path.resolve() if path else 'none'}", markup=False)
        for key, value, origin in _config.settings(path):
            console.print(f"{key}: {value}  ({origin})", markup=False)
        for verb, options in _config.option_tables(path):
            console.print(f"{verb}: {', '.join(f'--{k} {v!r}' for k, v in options.items())}", markup=False)
    except FieldguideError as err:
        _fail(err)


for _name in CAPABILITIES:
    importlib.import_module(f"fieldguide.{_name}.cli").register(app)
app.command("config")(show_config)  # after the capabilities' verbs, in --help too


def main() -> None:
    app()
