"""Writing a table into a database: every value back as it went in, on SQLite (inserts) and PostgreSQL (COPY)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from fieldguide.data._write import has_table, table_name, write_table
from fieldguide.errors import DataError

AWKWARD = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "text": ['a, "quoted" word', "", None, "line\nbreak \\N é"],
        "score": [0.1 + 0.2, -1e-300, None, 123456789.123456789],
        "flag": [True, False, None, True],
        "at": [
            dt.datetime(2024, 3, 1, 9, 30, 0, 250000),
            None,
            dt.datetime(1970, 1, 1),
            dt.datetime(2038, 1, 19),
        ],
    }
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'out.db'}"
    return request.getfixturevalue("postgres_schema_url")


def read_back(url: str, table: str) -> pl.DataFrame:
    """The table as written: SQLite keeps datetimes as text and booleans as 0/1, turned back here."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            back = pl.read_database(f"select * from {table} order by id", connection)
    finally:
        engine.dispose()
    if url.startswith("sqlite"):
        back = back.with_columns(pl.col("flag").cast(pl.Boolean))
        if "at" in back.columns:
            back = back.with_columns(pl.col("at").str.to_datetime())
    return back.cast({name: AWKWARD.schema[name] for name in back.columns})


@pytest.mark.parametrize(
    "columns", [AWKWARD.columns, ["id", "text", "score", "flag"]], ids=["datetime", "plain"]
)
def test_every_value_comes_back_as_it_went_in(url, columns):
    """With a datetime column the rows go through SQLAlchemy's conversions; without, as tuples on SQLite."""
    assert not has_table(url, "awkward")
    write_table(AWKWARD.select(columns), url, "awkward")
    assert has_table(url, "awkward")
    assert_frame_equal(
        read_back(url, "awkward"), AWKWARD.select(columns)
    )  # floats to the bit, "" apart from null


def test_rows_appended_before_a_failing_row_are_not_kept(url):
    """The table's own CHECK refuses the fourth row after three went in: none of the four stays."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "create table checked (id bigint, text text check (length(text) < 5), score double precision, "
            "flag boolean, at timestamp)"
        )
    bad = AWKWARD.with_columns(pl.Series("text", ["a", "b", "c", "far too long"]))
    with pytest.raises(DataError, match="table checked: writing failed, nothing was written"):
        write_table(bad, url, "checked", "append")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("select count(*) from checked").scalar_one() == 0
    engine.dispose()


def test_table_names_are_plain_identifiers():
    assert table_name("scores") == (None, "scores")
    assert table_name("analytics.scores") == ("analytics", "scores")
    for bad in ("", "1scores", "a.b.c", "scores; drop table x", 'my"table'):
        with pytest.raises(DataError, match="--table: expected a table name such as churn_scores"):
            table_name(bad)


@pytest.mark.postgres
def test_an_instant_with_a_time_zone_stays_that_instant_in_postgresql(postgres_schema_url):
    at = pl.DataFrame({"id": [1], "at": [dt.datetime(2024, 3, 1, 9, 30)]}).with_columns(
        pl.col("at").dt.replace_time_zone("Europe/Oslo")
    )
    write_table(at, postgres_schema_url, "stamps")
    engine = sa.create_engine(postgres_schema_url)
    with engine.connect() as connection:
        back = connection.exec_driver_sql("select at at time zone 'UTC' from stamps").scalar_one()
    engine.dispose()
    assert back == dt.datetime(2024, 3, 1, 8, 30)  # 09:30 in Oslo, UTC+1 in March


def test_a_missing_database_driver_is_named_with_its_extra(monkeypatch):
    from fieldguide.data._read import sql_engine

    def no_driver(url, **kwargs):
        raise ModuleNotFoundError("No module named 'psycopg'")

    monkeypatch.setattr(sa, "create_engine", no_driver)
    with pytest.raises(
        DataError,
        match=r"^postgresql\+psycopg://ana:\*\*\*@db/x: not a usable SQLAlchemy URL "
        r"\(No module named 'psycopg'\); install the driver: pip install 'fieldguide\[postgres\]'$",
    ):
        sql_engine("postgresql+psycopg://ana:pw@db/x")


def test_a_spinner_shows_while_the_database_works_only_on_a_terminal(monkeypatch, tmp_path):
    import contextlib

    from rich.console import Console
    from rich.status import Status

    from fieldguide.data import _read, _write

    assert isinstance(_read.waiting("writing"), contextlib.nullcontext)  # tests' stderr is no terminal
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    assert isinstance(_read.waiting("writing"), Status)
    shown = []
    monkeypatch.setattr(_write, "waiting", lambda text: shown.append(text) or contextlib.nullcontext())
    write_table(AWKWARD, f"sqlite:///{tmp_path / 'out.db'}", "spun")
    assert shown == [f"writing 4 rows to sqlite:///{tmp_path / 'out.db'} table spun"]
