"""Typer options that several verbs share, defined once.

The capability CLI modules import these (only Typer loads here); they cannot import ``fieldguide.cli``, which
imports them.
"""

from __future__ import annotations

import typer

REGISTRY = typer.Option(
    None,
    "--registry",
    help="SQLAlchemy URL of the registry database. Default: $FIELDGUIDE_REGISTRY, else SQLite under $FIELDGUIDE_HOME.",
    show_default=False,
)
ARTIFACTS = typer.Option(
    None,
    "--artifacts",
    help="Directory holding the artifacts. Default: $FIELDGUIDE_HOME/artifacts.",
    show_default=False,
)
IGNORE = typer.Option(
    None, "--ignore", help="Comma-separated columns never to learn from (leaks, identifiers)."
)
MISSING = typer.Option(
    None, "--missing", help="COLUMN=VALUE items that mean missing, e.g. Glucose=0,job=unknown."
)
TIME = typer.Option(
    None,
    "--time",
    help="Datetime or numeric column: cross-validate in time order (train on the past, test on what follows).",
)
QUERY = typer.Option(
    None,
    "--query",
    help="SQL whose result is the table, when the table is a database URL (sqlite:///f.db, "
    "postgresql+psycopg://user@host/db, duckdb:///:memory:), or @FILE to read it from FILE. Keep the password "
    "out of the URL (PGPASSWORD).",
)
ADDRESS = typer.Option(
    None, "--address", help="Ray cluster address (with --backend ray; default: a local one)."
)
GPUS_PER_TASK = typer.Option(
    None,
    "--gpus-per-task",
    help="GPUs each Ray task asks for (0.25: four share one). Default: 0, the CPU.",
)
