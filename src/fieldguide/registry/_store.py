"""The registry's tables, its schema version, and engines set up for concurrent writers.

SQLite runs in WAL mode with a busy timeout, and write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue on the database lock instead of failing halfway. PostgreSQL relies on row locks: a writer locks its
model's row for the whole transaction that allocates a version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from fieldguide.data._read import hide_password
from fieldguide.errors import RegistryError

SCHEMA_VERSION = 1
SCHEMA_KEY = "registry_schema"
BUSY_TIMEOUT_S = 60
WRITE = {"fieldguide_write": True}  # execution option that makes a SQLite transaction BEGIN IMMEDIATE
_PG_INIT_LOCK = 0x46474E44  # advisory lock key: serializes concurrent first-time table creation

NAME_MAX = 128
_Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_When = sa.DateTime(timezone=True)

metadata = sa.MetaData()

meta = sa.Table(
    "fieldguide_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

models = sa.Table(
    "fieldguide_models",
    metadata,
    sa.Column("name", sa.String(NAME_MAX), primary_key=True),
    # The last version number handed out; numbers are never reused, even after a delete.
    sa.Column("last_version", sa.Integer, nullable=False),
    sa.Column("created_at", _When, nullable=False),
)

versions = sa.Table(
    "fieldguide_versions",
    metadata,
    sa.Column("name", sa.String(NAME_MAX), sa.ForeignKey("fieldguide_models.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", _When, nullable=False),
    sa.Column("path", sa.String(512), nullable=False),  # relative to the artifact root
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("files", _Json, nullable=False),  # {relative path: {"sha256": hex, "bytes": n}}
    sa.Column("metrics", _Json, nullable=False),
    sa.Column("params", _Json, nullable=False),
    sa.Column("lineage", _Json, nullable=False),
    sa.Column("tags", _Json, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
)

aliases = sa.Table(
    "fieldguide_aliases",
    metadata,
    sa.Column("name", sa.String(NAME_MAX), primary_key=True),
    sa.Column("alias", sa.String(NAME_MAX), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", _When, nullable=False),
    sa.ForeignKeyConstraint(["name", "version"], ["fieldguide_versions.name", "fieldguide_versions.version"]),
)

events = sa.Table(
    "fieldguide_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_MAX), sa.ForeignKey("fieldguide_models.name"), nullable=False),
    sa.Column("version", sa.Integer),  # no foreign key: the audit trail outlives deleted versions
    sa.Column("kind", sa.String(NAME_MAX), nullable=False),
    sa.Column("detail", _Json, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("created_at", _When, nullable=False),
    sa.Index("ix_fieldguide_events_name", "name"),
)


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (SQLite or PostgreSQL), set up for concurrent writers."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise RegistryError(
            f"registry URL {hide_password(url)!r} is not a database URL; expected e.g. 'sqlite:///path/registry.db' "
            "or 'postgresql+psycopg://user@host:5432/db'"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise RegistryError(
            f"registry URL {hide_password(url)!r} uses {backend!r}; the registry supports sqlite and postgresql"
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself instead of pysqlite's implicit deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    write = connection.get_execution_options().get("fieldguide_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def schema_version(connection: sa.Connection, where: str) -> int | None:
    """The schema version the database records (None when it is empty); refuses one from a newer fieldguide."""
    if not sa.inspect(connection).has_table(meta.name):
        return None
    found = connection.execute(sa.select(meta.c.value).where(meta.c.key == SCHEMA_KEY)).scalar()
    if found is not None and int(found) > SCHEMA_VERSION:
        raise RegistryError(
            f"registry database {where} has schema version {found}, written by a newer fieldguide; "
            f"this one reads up to version {SCHEMA_VERSION}: upgrade fieldguide"
        )
    return None if found is None else int(found)


def initialize(connection: sa.Connection, where: str) -> None:
    """Create the tables and record the schema version, unless a concurrent process just did."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_INIT_LOCK)))
    if schema_version(connection, where) is None:
        metadata.create_all(connection)
        connection.execute(sa.insert(meta).values(key=SCHEMA_KEY, value=str(SCHEMA_VERSION)))


def insert_ignoring_duplicates(connection: sa.Connection, table: sa.Table, **values: Any) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING``: the row exists afterwards, whoever wrote it."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(insert(table).values(**values).on_conflict_do_nothing())
