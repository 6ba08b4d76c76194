"""Read a table from a file (CSV, Parquet, JSON lines, gzip-compressed) or a SQL source into a Polars DataFrame."""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import json
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fieldguide.errors import DataError

# The spellings of "missing" that readiness counts and that ``read(..., null_values=MISSING_TOKENS)`` turns into
# nulls. Compared after stripping whitespace, case-insensitively.
MISSING_TOKENS: tuple[str, ...] = ("", "na", "n/a", "nan", "null", "none", "nil", "-", "?", "#n/a", "missing")

_CSV_SUFFIXES = {".csv": None, ".tsv": "\t", ".tab": "\t", ".txt": None}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_SNIFF_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024
_PLAIN = (pl.String, pl.Boolean, pl.Date, pl.Datetime, pl.Categorical, pl.Enum, pl.Null)


class DataWarning(UserWarning):
    """Something about a table was guessed (an encoding, a delimiter); the message says what."""


@dataclass(frozen=True, repr=False)
class Query:
    """A table that a SQL query returns, wherever a path to a table is taken (``check``, ``compare``,
    ``search``, ``evaluate``).

    url: a SQLAlchemy URL (``sqlite:///f.db``, ``postgresql+psycopg://user@host/db``) or a DuckDB one
        (``duckdb:///:memory:`` for SQL over files). Leave the password out where the driver finds it elsewhere
        (PostgreSQL: ``PGPASSWORD`` or ``~/.pgpass``): a query's URL is shown, recorded and exported without it.
    sql: the query.

    >>> str(Query("postgresql+psycopg://ana:s3cret@db/sales", "select * from orders"))
    'postgresql+psycopg://ana:***@db/sales: select * from orders'
    """

    url: str
    sql: str

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            raise DataError(f"Query url: expected a database URL such as sqlite:///f.db, found {self.url!r}")
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise DataError(f"{self.shown_url}: expected the SQL of a query, found {self.sql!r}")

    @property
    def shown_url(self) -> str:
        """The URL with its password as ``***``."""
        return self.url if self.url.startswith("duckdb://") else hide_password(self.url)

    def without_password(self) -> Query:
        """The same query on the URL without its password (as exported scripts write it)."""
        if self.url.startswith("duckdb://"):
            return self
        from sqlalchemy.engine import make_url

        try:
            return Query(
                make_url(self.url)._replace(password=None).render_as_string(hide_password=False), self.sql
            )
        except Exception:  # not a URL SQLAlchemy understands: reading it will say so
            return self

    def __str__(self) -> str:
        sql = " ".join(self.sql.split())
        return f"{self.shown_url}: {sql if len(sql) <= 80 else sql[:77] + '...'}"

    def __repr__(self) -> str:
        return f"Query({self.shown_url!r}, {self.sql!r})"


def readable(data: Any) -> bool:
    """Whether ``data`` names a table for :func:`read` (a path or a :class:`Query`), not a table in memory."""
    return isinstance(data, str | os.PathLike | Query)


def read(
    source: str | Path | Query,
    *,
    query: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    null_values: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Read a table from a file or a SQL source into a Polars DataFrame.

    source: a path (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.jsonl``, ``.ndjson``, ``.json`` (an array of
        objects), any of the text formats with ``.gz``); a directory or glob of Parquet files (hive partitions
        such as ``year=2024/`` become columns); or a URL: ``duckdb:///:memory:`` (or ``duckdb:///rel.db``,
        ``duckdb:////abs.db``) for DuckDB SQL over files, any other SQLAlchemy URL (``sqlite:///f.db``,
        ``postgresql://user@host/db``) for a database; or a :class:`Query` (a URL and its SQL in one value).
    query: the SQL to run; required for URLs.
    delimiter: CSV field separator; sniffed from the first 64 KiB among , ; tab | when not given (a file
        with none of them is one column).
    encoding: CSV text encoding; detected when not given (UTF-8, UTF-8 with BOM, UTF-16 by BOM, else cp1252 or
        latin-1 with a ``DataWarning``).
    null_values: CSV spellings to read as null. The default keeps every value as written and reads only empty
        fields as null, so that readiness can count the distinct spellings of missing; pass
        ``MISSING_TOKENS`` (or your own list) to turn them into nulls. A blank line in a CSV is a row of nulls.

    Raises ``DataError`` naming the file for a missing file, an unreadable encoding, ragged rows, an empty or
    header-only file, a file that is not a table, or an unsupported extension.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("age;city\\n31;Oslo\\n45;NA\\n")
    >>> read(path).shape
    (2, 2)
    >>> read(path, null_values=MISSING_TOKENS)["city"].null_count()
    1
    """
    if isinstance(source, Query):
        if query is not None:
            raise DataError(f"{source.shown_url}: give the SQL once, in the Query or as query=, not both")
        return plain_types(_read_sql(source.url, source.sql))
    text = str(source)
    if is_url(text):
        return plain_types(_read_sql(text, query))
    if query is not None:
        raise DataError(
            f"{text}: query= is for SQL URLs (sqlite:///…, postgresql://…, duckdb:///…), not files"
        )
    path = Path(source).expanduser()
    if path.is_dir() or (not path.exists() and "*" in text):
        return _read_parquet_dataset(path)  # the scan turns the column types plain
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    suffix = suffixes[-2] if compressed and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if suffix in _PARQUET_SUFFIXES and not compressed:
        return plain_types(_nonempty(_read_parquet(path), path))
    if suffix in _JSONL_SUFFIXES or suffix in _CSV_SUFFIXES or suffix == ".json":
        data = _read_bytes(path, compressed)
        if not data.strip():
            raise DataError(f"{path}: the file is empty, expected a header and rows")
        if suffix in _JSONL_SUFFIXES or suffix == ".json":
            return plain_types(_nonempty(_read_json(data, path, lines=suffix != ".json"), path))
        return _nonempty(
            _read_csv(data, path, delimiter or _CSV_SUFFIXES[suffix], encoding, null_values), path
        )
    supported = sorted([*_CSV_SUFFIXES, *_JSONL_SUFFIXES, *_PARQUET_SUFFIXES, ".json"])
    raise DataError(
        f"{path}: unsupported extension {''.join(path.suffixes) or '(none)'!r}; "
        f"expected one of {', '.join(supported)} (text formats may end in .gz) or a SQL URL"
    )


def plain_types(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the column types that databases and Parquet files hold but no schema kind reads, turned
    into ones they do: decimals into Float64, durations (PostgreSQL's interval) into Float64 seconds, times of day
    into ``HH:MM:SS`` text, binary into hex text, and Python objects (PostgreSQL's uuid, say) into their ``str``
    (JSON for dicts and lists). Nested columns stay as they are: the schema leaves them out of learning. A frame
    without such columns is returned as it is.

    >>> import decimal, uuid
    >>> plain_types(pl.DataFrame({"amount": [decimal.Decimal("9.95")], "id": [uuid.UUID(int=7)]})).row(0)
    (9.95, '00000000-0000-0000-0000-000000000007')
    """
    changed = {}
    for name, dtype in frame.schema.items():
        if (dtype.is_numeric() and not isinstance(dtype, pl.Decimal)) or dtype in _PLAIN:
            continue  # most columns, looked at no further (this runs on every request the server scores)
        if (plain := _plain(name, dtype)) is not None:
            changed[name] = plain
        elif dtype == pl.Object:
            text = [
                None if v is None else json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
                for v in frame.get_column(name).to_list()
            ]
            changed[name] = pl.Series(name, text, dtype=pl.String)
    return frame.with_columns(changed[n].alias(n) for n in changed) if changed else frame


def _plain(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """The column ``name`` of type ``dtype`` in a type a schema kind reads, or ``None`` when it already is one
    (or is a Python object, which no expression converts)."""
    if isinstance(dtype, pl.Decimal):
        return pl.col(name).cast(pl.Float64)
    if isinstance(dtype, pl.Duration):
        return pl.col(name).dt.total_microseconds().cast(pl.Float64) / 1e6
    if dtype == pl.Time:
        return pl.col(name).dt.to_string("%H:%M:%S")
    if dtype == pl.Binary:
        return pl.col(name).bin.encode("hex")
    return None


def scan(source: Any) -> pl.LazyFrame | None:
    """A lazy scan of ``source`` when it is a Parquet file, a directory of them or a glob (as :func:`read` reads
    them, column types included), for passes over a table larger than memory; ``None`` for any other source.

    Raises ``DataError`` naming the path for a missing, empty or unreadable Parquet source.
    """
    if not isinstance(source, str | os.PathLike) or is_url(str(source)):
        return None
    path = Path(source).expanduser()
    dataset = path.is_dir() or (not path.exists() and "*" in str(source))
    if not dataset and (not path.is_file() or path.suffix.lower() not in _PARQUET_SUFFIXES):
        return None
    if dataset and not (any(path.rglob("*.parquet")) if path.is_dir() else glob.glob(str(path))):
        raise DataError(f"{path}: no Parquet files found (a directory or a glob reads *.parquet files)")
    try:
        lazy = pl.scan_parquet(path if path.is_dir() else str(path), hive_partitioning=path.is_dir())
        schema = lazy.collect_schema()
    except Exception as err:
        raise DataError(f"{path}: not a readable Parquet file ({_first_line(err)})") from err
    if not schema:
        raise DataError(f"{path}: no columns found, expected a table")
    casts = [e.alias(n) for n, dtype in schema.items() if (e := _plain(n, dtype)) is not None]
    return lazy.with_columns(casts) if casts else lazy


def _nonempty(df: pl.DataFrame, path: Path) -> pl.DataFrame:
    if df.width == 0:
        raise DataError(f"{path}: no columns found, expected a table")
    if df.height == 0:
        raise DataError(f"{path}: has a header ({df.width} columns) but no rows")
    return df


def _read_bytes(path: Path, compressed: bool) -> bytes:
    try:
        return gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: could not read the file ({err})") from err


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        # Read, not memory-mapped: as fast, and the file's pages do not stay in the process's memory.
        return pl.read_parquet(path, memory_map=False)
    except Exception as err:  # Polars raises several types for a corrupt file; all mean the same to a user
        raise DataError(f"{path}: not a readable Parquet file ({_first_line(err)})") from err


def _read_json(data: bytes, path: Path, *, lines: bool) -> pl.DataFrame:
    _refuse_binary(data, path)
    try:
        return (
            pl.read_ndjson(data, infer_schema_length=None)
            if lines
            else pl.read_json(data, infer_schema_length=None)
        )
    except Exception as err:
        expected = "JSON lines, one object per line" if lines else "JSON, an array of objects"
        raise DataError(f"{path}: not valid {expected} ({_first_line(err)})") from err


def _read_parquet_dataset(path: Path) -> pl.DataFrame:
    """A directory of Parquet files (hive partitions such as ``year=2024/`` become columns) or a glob of them."""
    try:
        df = scan(path).collect()
    except pl.exceptions.PolarsError as err:
        raise DataError(f"{path}: could not read the Parquet dataset ({_first_line(err)})") from err
    return _nonempty(df, path)


def _read_csv(
    data: bytes, path: Path, delimiter: str | None, encoding: str | None, null_values: Sequence[str] | None
) -> pl.DataFrame:
    text = _decode(data, path, encoding)
    if delimiter is None:
        delimiter = _sniff_delimiter(text)
    if len(delimiter) != 1:
        raise DataError(f"{path}: delimiter must be one character, got {delimiter!r}")
    payload = text.encode("utf-8")
    _check_field_counts(payload, path, delimiter)
    options = {
        "separator": delimiter,
        "null_values": None if null_values is None else _spellings(null_values),
    }
    try:
        try:  # types from a sample is fast; a later value that does not fit means inferring from every row
            return pl.read_csv(payload, infer_schema_length=10_000, **options)
        except pl.exceptions.ComputeError:
            return pl.read_csv(payload, infer_schema_length=None, **options)
    except Exception as err:
        raise DataError(
            f"{path}: could not parse as CSV with delimiter {delimiter!r} ({_first_line(err)})"
        ) from err


def _spellings(tokens: Sequence[str]) -> list[str]:
    """Every case variant a user is likely to write of each token (CSV null matching is exact)."""
    return sorted({v for t in tokens for v in (t, t.lower(), t.upper(), t.title(), f" {t}", f"{t} ")})


def _decode(data: bytes, path: Path, encoding: str | None) -> str:
    if encoding is not None:
        try:
            return data.decode(encoding)
        except LookupError as err:
            raise DataError(f"{path}: unknown encoding {encoding!r}") from err
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not valid {encoding} at byte {err.start} ({err.reason})") from err
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[len(codecs.BOM_UTF8) :], path, "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, path, "utf-16")
    _refuse_binary(data, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text, fallback = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 decodes any byte
        text, fallback = data.decode("latin-1"), "latin-1"
    warnings.warn(f"{path}: not UTF-8; decoded as {fallback}", DataWarning, stacklevel=4)
    return text


def _refuse_binary(data: bytes, path: Path) -> None:
    head = data[:_SNIFF_BYTES]
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    if b"\x00" in head or controls > len(head) // 100:
        raise DataError(f"{path}: looks like binary data, not a text table")


def _sniff_delimiter(text: str) -> str:
    sample = text[:_SNIFF_BYTES]
    if "\n" in sample[:-1]:
        sample = sample[: sample.rfind("\n")]  # a cut-off last line confuses the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=_SNIFF_DELIMITERS).delimiter
    except csv.Error:
        header = sample.split("\n", 1)[0]
        return (
            max(_SNIFF_DELIMITERS, key=header.count) if any(d in header for d in _SNIFF_DELIMITERS) else ","
        )


def _check_field_counts(payload: bytes, path: Path, delimiter: str) -> None:
    """Refuse ragged rows (Polars silently pads short ones), naming the first bad line.

    Vectorized over the UTF-8 bytes: a delimiter or newline inside double quotes does not count (the parity of
    the quotes seen so far says whether a byte is quoted; an escaped ``""`` flips it twice).
    """
    if len(delimiter.encode("utf-8")) != 1:
        return  # a multi-byte delimiter: leave the check to Polars
    buf = np.frombuffer(payload, dtype=np.uint8)
    newlines, delimiters = buf == ord("\n"), buf == ord(delimiter)
    if b'"' in payload:
        unquoted = np.bitwise_xor.accumulate((buf == ord('"')).view(np.uint8)) == 0
        newlines &= unquoted
        delimiters &= unquoted
    ends = np.flatnonzero(newlines)
    if len(ends) == 0 or ends[-1] != len(buf) - 1:
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1))
    positions = np.flatnonzero(delimiters)
    fields = np.searchsorted(positions, ends) - np.searchsorted(positions, starts)
    content = ends - starts - (buf[np.maximum(ends - 1, 0)] == ord("\r"))
    fields = (fields + 1)[content > 0]  # blank lines are skipped
    starts = starts[content > 0]
    bad = np.flatnonzero(fields != fields[0])
    if len(bad):
        line = 1 + int(np.count_nonzero(buf[: starts[bad[0]]] == ord("\n")))
        raise DataError(
            f"{path}: line {line} has {int(fields[bad[0]])} fields, expected {int(fields[0])} (as in the header)"
        )


def is_url(text: str) -> bool:
    """Whether ``text`` names a database (``sqlite:///f.db``, ``postgresql://…``) rather than a file.

    >>> is_url("sqlite:///shop.db"), is_url("shop.csv")
    (True, False)
    """
    return "://" in text and not Path(text).exists()


def sql_engine(url: str) -> Any:
    """A SQLAlchemy engine for ``url``, a missing driver named with the extra that installs it. On SQLite its
    transactions hold DDL too: pysqlite issues no BEGIN before a DROP or CREATE, which would then stand even when
    the statements after them roll back."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
    except Exception as err:  # a malformed URL or a driver that is not installed: both are the user's to fix
        hint = ""
        if isinstance(err, ModuleNotFoundError) and url.startswith("postgresql"):
            hint = "; install the driver: pip install 'fieldguide[postgres]'"
        raise DataError(
            f"{hide_password(url)}: not a usable SQLAlchemy URL ({_first_line(err)}){hint}"
        ) from err
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", lambda dbapi, _: setattr(dbapi, "isolation_level", None))
        sa.event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


def waiting(text: str) -> Any:
    """A spinner saying ``text`` on stderr while the database works, where stderr is a terminal."""
    import contextlib

    from rich.console import Console

    console = Console(stderr=True)
    return console.status(text) if console.is_terminal else contextlib.nullcontext()


def _read_sql(url: str, query: str | None) -> pl.DataFrame:
    shown = url if url.startswith("duckdb://") else hide_password(url)
    if not query:
        raise DataError(f"{shown}: a SQL source needs query=, e.g. query='select * from t'")
    if url.startswith("duckdb://"):
        return _read_duckdb(url, query)
    engine = sql_engine(url)
    try:
        with waiting(f"running the query on {shown}"), engine.connect() as connection:
            return pl.read_database(query, connection, infer_schema_length=None)
    except Exception as err:
        raise DataError(f"{shown}: query failed ({_first_line(err)})") from err
    finally:
        engine.dispose()


def _read_duckdb(url: str, query: str) -> pl.DataFrame:
    try:
        import duckdb
    except ImportError as err:
        raise DataError(
            f"{url}: DuckDB sources need the duckdb package (pip install 'fieldguide[duckdb]')"
        ) from err
    database = url.removeprefix("duckdb://").removeprefix("/") or ":memory:"
    try:
        with duckdb.connect(database) as connection:
            return connection.sql(query).pl()
    except duckdb.Error as err:
        raise DataError(f"{url}: query failed ({_first_line(err)})") from err


def hide_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to print, log and record.

    >>> hide_password("postgresql+psycopg://ana:s3cret@db/sales"), hide_password("sqlite:///f.db")
    ('postgresql+psycopg://ana:***@db/sales', 'sqlite:///f.db')
    """
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: mask whatever sits between user: and @
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
