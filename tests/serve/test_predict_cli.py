"""``fieldguide predict``: batch scoring of a table by a registered model, written whole or not at all."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from fieldguide.cli import app
from fieldguide.data.synthetic import customers, regression_table
from fieldguide.models import LogisticRegression, Ridge
from fieldguide.pipeline import Pipeline
from fieldguide.registry import Registry


@pytest.fixture
def registered(tmp_path):
    """A churn classifier (version 1, champion) and a regressor, in a registry under tmp_path."""
    url, root = f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts"
    churn = Pipeline.fit(customers(300, seed=0), "churn", LogisticRegression())
    prices = Pipeline.fit(regression_table(200, seed=1), "y", Ridge())
    with Registry(url, artifact_root=root) as registry:
        registry.register("churn", churn.save(tmp_path / "churn"))
        registry.set_alias("churn", "champion", 1)
        registry.register("prices", prices.save(tmp_path / "prices"))
    return {"where": ["--registry", url, "--artifacts", str(root)], "churn": churn, "prices": prices}


def predict(registered, *args):
    return CliRunner().invoke(app, ["predict", *args, *registered["where"]], env={"COLUMNS": "200"})


def test_predictions_and_probabilities_beside_the_identifier(registered, tmp_path, monkeypatch):
    from fieldguide.serve import cli

    monkeypatch.setattr(cli, "_CHUNK_ROWS", 7)  # several chunks, joined in order
    table = customers(50, seed=4)
    table.write_csv(tmp_path / "new.csv")
    result = predict(
        registered, "churn", "--data", str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")
    )
    assert result.exit_code == 0, result.output
    assert "50 row(s) scored by churn version 1 (LogisticRegression)" in result.output
    written = pl.read_csv(tmp_path / "p.csv")
    assert written.columns == ["customer_id", "prediction", "p_0", "p_1"]
    assert written["customer_id"].to_list() == table["customer_id"].to_list()
    pipe = registered["churn"]
    np.testing.assert_array_equal(written["prediction"].to_numpy(), pipe.predict(table))
    np.testing.assert_allclose(written.select("p_0", "p_1").to_numpy(), pipe.predict_proba(table), rtol=1e-12)


def test_a_regressor_by_version_with_chosen_columns_to_parquet(registered, tmp_path):
    table = regression_table(30, seed=9)
    table.write_parquet(tmp_path / "new.parquet")
    out = tmp_path / "p.parquet"
    result = predict(
        registered,
        "prices",
        "--version",
        "1",
        "--data",
        str(tmp_path / "new.parquet"),
        "--out",
        str(out),
        "--keep",
        "segment",
    )
    assert result.exit_code == 0, result.output
    written = pl.read_parquet(out)
    assert written.columns == ["segment", "prediction"]
    np.testing.assert_allclose(written["prediction"].to_numpy(), registered["prices"].predict(table))


def test_refusals_name_the_cause_and_write_nothing(registered, tmp_path):
    customers(20, seed=2).drop("tenure_months").write_csv(tmp_path / "short.csv")
    out = tmp_path / "p.csv"
    broken = predict(registered, "churn", "--data", str(tmp_path / "short.csv"), "--out", str(out))
    assert broken.exit_code == 2 and "tenure_months" in broken.output
    assert not out.exists() and not list(tmp_path.glob(".p.csv*"))
    no_alias = predict(registered, "prices", "--data", str(tmp_path / "short.csv"), "--out", str(out))
    assert no_alias.exit_code == 2 and "fieldguide predict prices --version 1" in no_alias.output
    wrong = predict(
        registered, "churn", "--data", str(tmp_path / "short.csv"), "--out", str(tmp_path / "p.xlsx")
    )
    assert wrong.exit_code == 2 and "expected a .csv, .parquet or .jsonl file" in wrong.output
    keep = predict(
        registered, "churn", "--data", str(tmp_path / "short.csv"), "--out", str(out), "--keep", "nope"
    )
    assert keep.exit_code == 2 and "--keep: column(s) ['nope']" in keep.output


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A database to write predictions to: a SQLite file, and a fresh PostgreSQL schema (skipped without one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scores.db'}"
    return request.getfixturevalue("postgres_schema_url")


def test_predictions_go_into_a_database_table_whole_and_existing_tables_are_kept(
    registered, tmp_path, database
):
    import sqlalchemy as sa

    table = customers(60, seed=6)
    table.write_csv(tmp_path / "new.csv")
    args = ["churn", "--data", str(tmp_path / "new.csv"), "--out", database, "--table", "churn_scores"]
    first = predict(registered, *args)
    assert first.exit_code == 0, first.output
    assert "table churn_scores" in first.output and "60 row(s) scored" in first.output
    written = pl.read_database("select * from churn_scores order by customer_id", sa.create_engine(database))
    expected = table.sort("customer_id")
    assert written.columns == ["customer_id", "prediction", "p_0", "p_1"]
    assert written["customer_id"].to_list() == expected["customer_id"].to_list()
    pipe = registered["churn"]
    np.testing.assert_array_equal(written["prediction"].to_numpy(), pipe.predict(expected))
    np.testing.assert_allclose(
        written.select("p_0", "p_1").to_numpy(), pipe.predict_proba(expected), rtol=1e-12
    )

    def rows() -> int:
        engine = sa.create_engine(database)
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text("select count(*) from churn_scores")).scalar_one()
        finally:
            engine.dispose()

    again = predict(registered, *args)
    assert again.exit_code == 2 and "--table: churn_scores exists" in again.output and rows() == 60
    assert predict(registered, *args, "--if-exists", "append").exit_code == 0 and rows() == 120
    assert predict(registered, *args, "--if-exists", "replace").exit_code == 0 and rows() == 60
    regression_table(10, seed=3).write_csv(tmp_path / "prices.csv")
    other = [
        "prices",
        "--version",
        "1",
        "--data",
        str(tmp_path / "prices.csv"),
        *args[3:],
        "--if-exists",
        "append",
    ]
    refused = predict(registered, *other)
    assert refused.exit_code == 2 and "--if-exists append needs the table's columns" in refused.output
    assert rows() == 60


def test_a_failed_write_leaves_the_replaced_table_as_it_was(registered, tmp_path, monkeypatch):
    import sqlalchemy as sa

    from fieldguide.data import _write

    url = f"sqlite:///{tmp_path / 'scores.db'}"
    customers(30, seed=7).write_csv(tmp_path / "new.csv")
    args = ["churn", "--data", str(tmp_path / "new.csv"), "--out", url, "--table", "scores"]
    assert predict(registered, *args).exit_code == 0
    monkeypatch.setattr(_write, "_INSERT_ROWS", 7)  # several inserts; the third one fails
    calls = []
    original = sa.engine.Connection.exec_driver_sql

    def failing(self, statement, *a, **k):  # the rows go in as executemany of INSERT statements
        if statement.startswith("INSERT"):
            calls.append(1)
            if len(calls) == 3:
                raise sa.exc.OperationalError("insert", {}, Exception("disk I/O error"))
        return original(self, statement, *a, **k)

    monkeypatch.setattr(sa.engine.Connection, "exec_driver_sql", failing)
    broken = predict(registered, *args, "--if-exists", "replace")
    assert broken.exit_code == 2 and "writing failed, nothing was written" in broken.output
    monkeypatch.undo()
    assert len(calls) == 3  # two parts went in before the failure
    kept = pl.read_database("select * from scores", sa.create_engine(url))
    assert kept.height == 30  # the first write's rows, not dropped by the failed replace


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--out: a database URL needs --table NAME"),
        (["--table", "drop table x;"], "--table: expected a table name such as churn_scores"),
        (["--table", "t", "--if-exists", "merge"], "--if-exists: expected one of fail, replace, append"),
    ],
)
def test_database_output_options_are_checked_before_scoring(registered, tmp_path, extra, message):
    customers(5, seed=1).write_csv(tmp_path / "new.csv")
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    result = predict(registered, "churn", "--data", str(tmp_path / "new.csv"), "--out", url, *extra)
    assert result.exit_code == 2 and message in result.output
    on_file = predict(
        registered,
        "churn",
        "--data",
        str(tmp_path / "new.csv"),
        "--out",
        str(tmp_path / "p.csv"),
        "--table",
        "t",
    )
    assert on_file.exit_code == 2 and "--table: only with a database URL as --out" in on_file.output


def test_a_table_without_identifiers_gets_the_predictions_alone(registered, tmp_path):
    table = regression_table(12, seed=4)
    table.write_csv(tmp_path / "new.csv")
    out = tmp_path / "p.csv"
    result = predict(
        registered, "prices", "--version", "1", "--data", str(tmp_path / "new.csv"), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    written = pl.read_csv(out)
    assert written.columns == ["prediction"] and written.height == 12
    np.testing.assert_allclose(written["prediction"].to_numpy(), registered["prices"].predict(table))
