"""A SQL query as the table of every verb (``DATA URL --query SQL``, ``fieldguide.data.Query``), its password
kept out of every report, record, script and message."""

from __future__ import annotations

import json
import sqlite3

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from fieldguide.cli import app, table_source
from fieldguide.data import Query, read
from fieldguide.data.synthetic import customers
from fieldguide.errors import DataError, FieldguideError
from fieldguide.registry import Registry

SECRET = "s3cret-Pa55"


@pytest.fixture
def shop(tmp_path):
    """A SQLite database with 'customers' (600 rows) and 'holdout' (300 rows) of the churn table, and the same
    rows as CSV files."""
    table = customers(900, seed=3)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    table.head(600).write_database("customers", url)
    table.tail(300).write_database("holdout", url)
    table.head(600).write_csv(tmp_path / "customers.csv")
    return url


def run(tmp_path, *args):
    where = ["--registry", f"sqlite:///{tmp_path / 'registry.db'}"]
    registry_verbs = {"train", "evaluate", "predict", "models"}
    arguments = [*args, *where] if args[0] in registry_verbs else list(args)
    env = {"COLUMNS": "200", "FIELDGUIDE_HOME": str(tmp_path / "home")}
    return CliRunner().invoke(app, arguments, env=env)


def test_a_query_shows_its_url_without_the_password():
    query = Query(
        f"postgresql+psycopg://ana:{SECRET}@db:5432/sales?sslmode=require", "select *\n  from orders"
    )
    assert str(query) == "postgresql+psycopg://ana:***@db:5432/sales?sslmode=require: select * from orders"
    assert SECRET not in repr(query) and "ana:***@db" in repr(query)
    assert query.without_password().url == "postgresql+psycopg://ana@db:5432/sales?sslmode=require"
    assert query.without_password().sql == query.sql
    long = Query("sqlite:///f.db", "select " + ", ".join(f"c{i}" for i in range(40)) + " from t")
    assert str(long).endswith("...") and len(str(long)) == len("sqlite:///f.db: ") + 80


@pytest.mark.parametrize(
    ("url", "sql", "message"),
    [
        (
            "shop.csv",
            "select 1",
            "Query url: expected a database URL such as sqlite:///f.db, found 'shop.csv'",
        ),
        ("sqlite:///f.db", "  ", "sqlite:///f.db: expected the SQL of a query, found '  '"),
    ],
)
def test_a_query_without_a_url_or_sql_is_refused(url, sql, message):
    with pytest.raises(DataError, match=message):
        Query(url, sql)


def test_reading_a_query_is_reading_its_url_with_its_sql(shop):
    sql = "select * from customers order by customer_id"
    assert_frame_equal(read(Query(shop, sql)), read(shop, query=sql))
    with pytest.raises(DataError, match="give the SQL once, in the Query or as query=, not both"):
        read(Query(shop, sql), query=sql)


def test_the_cli_asks_for_a_query_with_a_url_and_a_url_with_a_query(tmp_path, shop):
    assert table_source(str(tmp_path / "customers.csv"), None) == str(tmp_path / "customers.csv")
    assert table_source(shop, "select 1") == Query(shop, "select 1")
    with pytest.raises(FieldguideError, match=r"^--data: a database URL needs --query 'select …'"):
        table_source(shop, None, "--data")
    with pytest.raises(
        FieldguideError, match=r"^--query: DATA must be a database URL .* found 'customers.csv'"
    ):
        table_source("customers.csv", "select 1")
    result = run(tmp_path, "check", shop)
    assert result.exit_code == 2 and "DATA: a database URL needs --query" in result.output
    result = run(tmp_path, "check", "--demo", "--query", "select 1")
    assert result.exit_code == 2 and "--query: not with --demo" in result.output
    result = run(
        tmp_path, "train", shop, "--query", "select * from customers", "-t", "churn", "--trials", "1"
    )
    assert result.exit_code == 2 and "--name: a table read by --query has no file name" in result.output
    assert not (tmp_path / "registry.db").exists()  # refused before the search
    result = run(tmp_path, "compare", shop, "--query", "select * from nowhere", "-t", "churn")
    assert result.exit_code == 2 and "query failed ((sqlite3.OperationalError) no such table: nowhere)" in (
        result.output
    )


def test_the_sql_can_come_from_a_file(tmp_path, shop):
    sql = tmp_path / "customers.sql"
    sql.write_text(
        "-- the churn table\nselect *\n  from customers\n where tenure_months >= 0\n", encoding="utf-8-sig"
    )
    query = table_source(shop, f"@{sql}")
    assert query == Query(shop, sql.read_text(encoding="utf-8-sig"))
    assert read(query).height == 600
    result = run(tmp_path, "check", shop, "--query", f"@{sql}", "-t", "churn", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["n_rows"] == 600
    with pytest.raises(
        FieldguideError, match=r"^--query @.*nowhere\.sql: could not read the SQL \(no such file\)"
    ):
        table_source(shop, f"@{tmp_path / 'nowhere.sql'}")
    (tmp_path / "empty.sql").write_text("  \n")
    result = run(tmp_path, "compare", shop, "--query", f"@{tmp_path / 'empty.sql'}", "-t", "churn")
    assert (
        result.exit_code == 2 and "empty.sql: the file is empty, expected the SQL of a query" in result.output
    )


def test_every_verb_reads_a_query_as_it_reads_the_same_rows_from_a_file(tmp_path, shop):
    """check, compare, train (with its exported script), evaluate, predict and the ONNX export's check, each on
    a SQLite query: the same rows as a file give the same results."""
    customers_sql = "select * from customers"
    check = run(
        tmp_path, "check", shop, "--query", customers_sql, "-t", "churn", "--json", str(tmp_path / "q.json")
    )
    assert check.exit_code == 0, check.output
    by_file = run(
        tmp_path, "check", str(tmp_path / "customers.csv"), "-t", "churn", "--json", str(tmp_path / "f.json")
    )
    assert by_file.exit_code == 0, by_file.output
    query_report, file_report = (json.loads((tmp_path / f).read_text()) for f in ("q.json", "f.json"))
    assert query_report["source"] == f"{shop}: {customers_sql}"
    assert (
        query_report["level"] == file_report["level"]
        and query_report["n_rows"] == file_report["n_rows"] == 600
    )
    compared = run(
        tmp_path,
        "compare",
        shop,
        "--query",
        customers_sql,
        "-t",
        "churn",
        "--models",
        "LogisticRegression,DummyClassifier",
        "--repeats",
        "1",
        "--json",
        str(tmp_path / "compare.json"),
    )
    assert compared.exit_code == 0, compared.output
    assert (
        json.loads((tmp_path / "compare.json").read_text())["recommendation"]["model"] == "LogisticRegression"
    )

    script = tmp_path / "rebuild.py"
    train = [
        "train",
        shop,
        "--query",
        customers_sql,
        "-t",
        "churn",
        "--trials",
        "2",
        "--models",
        "LogisticRegression",
    ]
    trained = run(tmp_path, *train, "--name", "shop", "--export", str(script))
    assert trained.exit_code == 0, trained.output
    text = script.read_text()
    assert f'DATA = Query(\n    "{shop}",\n    "{customers_sql}",\n)' in text and '"shop-pipeline"' in text
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        assert registry.get("shop", 1).lineage["config"]["search"]["data"] == f"{shop}: {customers_sql}"

    holdout = ["--data", shop, "--query", "select * from holdout"]
    evaluated = run(
        tmp_path, "evaluate", "shop", "--challenger", "1", *holdout, "--json", str(tmp_path / "e.json")
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((tmp_path / "e.json").read_text())["challenger"]["settings"]["source"] == (
        f"{shop}: select * from holdout"
    )
    scored = run(tmp_path, "predict", "shop", "--version", "1", *holdout, "--out", str(tmp_path / "p.csv"))
    assert scored.exit_code == 0, scored.output
    assert pl.read_csv(tmp_path / "p.csv").height == 300
    pytest.importorskip("onnxruntime", reason="the ONNX check needs the onnx extra")
    exported = run(
        tmp_path,
        "models",
        "export",
        "shop",
        "1",
        "--onnx",
        str(tmp_path / "shop.onnx"),
        "--check",
        shop,
        "--query",
        "select * from holdout limit 50",
    )
    assert exported.exit_code == 0, exported.output
    assert "50 rows" in exported.output and "agree" in exported.output


def test_a_postgresql_password_is_in_no_report_record_script_or_message(tmp_path, postgres_schema_url):
    """The URL carries a password (the test server trusts any): it reaches the database, and nothing fieldguide
    writes or prints holds it."""
    url = sa.make_url(postgres_schema_url).set(password=SECRET).render_as_string(hide_password=False)
    customers(500, seed=5).write_database("customers", postgres_schema_url)
    sql = "select * from customers"
    outputs = []
    for args in (
        [
            "check",
            url,
            "--query",
            sql,
            "-t",
            "churn",
            "--json",
            str(tmp_path / "check.json"),
            "--html",
            str(tmp_path / "check.html"),
        ],
        [
            "train",
            url,
            "--query",
            sql,
            "-t",
            "churn",
            "--trials",
            "1",
            "--models",
            "LogisticRegression",
            "--name",
            "pg",
            "--export",
            str(tmp_path / "rebuild.py"),
        ],
        [
            "evaluate",
            "pg",
            "--challenger",
            "1",
            "--data",
            url,
            "--query",
            sql,
            "--json",
            str(tmp_path / "e.json"),
        ],
        ["check", url, "--query", "select * from nowhere"],
    ):
        result = run(tmp_path, *args)
        outputs.append(result.output)
        assert result.exit_code == (2 if "nowhere" in args[-1] else 0), result.output
    assert 'relation "nowhere" does not exist' in outputs[-1] and ":***@" in outputs[-1]
    script = (tmp_path / "rebuild.py").read_text()
    assert "the URL's password is left out" in script and "postgres@127.0.0.1" in script
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".db"]
    assert len(written) > 5  # reports, the script, the registry's artifacts
    with sqlite3.connect(tmp_path / "registry.db") as connection:  # every row of the registry, as text
        dump = "\n".join(connection.iterdump())
    assert "pg" in dump
    for text in [*outputs, dump, *(p.read_bytes().decode("utf-8", "replace") for p in written)]:
        assert SECRET not in text
