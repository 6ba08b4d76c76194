"""Synthetic tables: seeded, and their targets follow the documented models (checked with statsmodels)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from polars.testing import assert_frame_equal

import fieldguide.data
from fieldguide.data import synthetic


def test_seeded() -> None:
    assert_frame_equal(synthetic.customers(300, seed=4), synthetic.customers(300, seed=4))
    assert not synthetic.customers(300, seed=4).equals(synthetic.customers(300, seed=5))
    assert_frame_equal(synthetic.regression_table(50, seed=2), synthetic.regression_table(50, seed=2))


def test_customers_churn_follows_the_documented_logistic_model() -> None:
    df = synthetic.customers(20_000, seed=0)
    design = np.column_stack(
        [
            (df["contract"] == "month-to-month").to_numpy(),
            (df["contract"] == "two-year").to_numpy(),
            df["tenure_months"].to_numpy() - 30,
            df["monthly_charges"].to_numpy() - 55,
            df["support_calls"].to_numpy() - 1.5,
            (df["payment_method"] == "electronic check").to_numpy(),
            df["is_senior"].to_numpy(),
        ]
    ).astype(float)
    fit = sm.Logit(df["churn"].to_numpy(), sm.add_constant(design)).fit(disp=0)
    truth = np.array([-1.2, 1.1, -0.8, -0.03, 0.02, 0.35, 0.5, 0.4])
    assert np.all(np.abs(fit.params - truth) < 4 * fit.bse), (fit.params, fit.bse)
    assert 0.2 < df["churn"].mean() < 0.5
    assert 0.01 < df["age"].null_count() / df.height < 0.06


def test_regression_table_follows_the_documented_linear_model() -> None:
    df = synthetic.regression_table(5000, n_features=3, noise=0.5, seed=1)
    design = np.column_stack(
        [df.select("x0", "x1", "x2").to_numpy(), (df["segment"] == "b"), (df["segment"] == "c")]
    )
    fit = sm.OLS(df["y"].to_numpy(), sm.add_constant(design.astype(float))).fit()
    truth = np.array([2.0, 0.5, 1.0, 1.5, 1.0, -1.0])
    assert np.all(np.abs(fit.params - truth) < 4 * fit.bse)
    assert abs(np.sqrt(fit.scale) - 0.5) < 0.02
    assert synthetic.regression_table(0).height == 0


def test_public_surface() -> None:
    assert sorted(fieldguide.data.__all__) == [
        "ColumnSpec", "DataWarning", "Featurizer", "MISSING_TOKENS", "Query", "Schema", "Violation", "as_frame",
        "infer_schema", "labelled_rows", "read", "records_frame", "splits", "synthetic", "typed_column", "typed_frame",
        "value_counts",
    ]  # fmt: skip
    assert isinstance(synthetic.customers(5), pl.DataFrame)


@pytest.mark.parametrize(
    "module", ["__init__", "_read", "_write", "_schema", "_featurizer", "splits", "synthetic"]
)
def test_docstring_examples_run(module: str) -> None:
    imported = importlib.import_module(
        f"fieldguide.data.{module}" if module != "__init__" else "fieldguide.data"
    )
    result = doctest.testmod(imported, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
