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
