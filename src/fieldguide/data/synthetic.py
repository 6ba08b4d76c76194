"""Seeded synthetic tables with known structure, shared by the product's tests, readiness, compare and the tour."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("electronic check", "mailed check", "bank transfer", "credit card")
REGIONS = ("north", "south", "east", "west")
SEGMENTS = ("a", "b", "c")
_SEGMENT_EFFECT = {"a": 0.0, "b": 1.0, "c": -1.0}
_REFERENCE_DATE = dt.datetime(2025, 1, 1)


def customers(n_rows: int = 1000, seed: int = 0) -> pl.DataFrame:
    """A churn-like customer table whose target follows a known logistic model (see ``customers_logit``).

    Columns: ``customer_id`` (unique int, identifier), ``signup_date`` (datetime), ``age`` (int, about 3 %
    missing), ``tenure_months`` (int), ``monthly_charges`` (float), ``contract``, ``payment_method``, ``region``
    (categorical), ``is_senior``, ``has_partner`` (boolean), ``support_calls`` (int) and ``churn`` (0/1 target).

    >>> df = customers(200, seed=1)
    >>> df.shape, df["customer_id"].n_unique()
    ((200, 12), 200)
    """
    rng = np.random.default_rng(seed)
    days_before = rng.integers(30, 6 * 365, n_rows)
    signup = [
        _REFERENCE_DATE - dt.timedelta(days=int(d), hours=int(h))
        for d, h in zip(days_before, rng.integers(0, 24, n_rows), strict=True)
    ]
    age = rng.integers(18, 86, n_rows)
    frame = pl.DataFrame(
        {
            "customer_id": rng.permutation(n_rows) + 100_000,
            "signup_date": pl.Series(signup, dtype=pl.Datetime("us")),
            "age": pl.Series(np.where(rng.random(n_rows) < 0.03, None, age).tolist(), dtype=pl.Int64),
            "tenure_months": days_before // 30,
            "monthly_charges": np.round(np.exp(rng.normal(4.0, 0.4, n_rows)), 2),
            "contract": rng.choice(CONTRACTS, n_rows, p=[0.55, 0.25, 0.20]),
            "payment_method": rng.choice(PAYMENT_METHODS, n_rows),
            "region": rng.choice(REGIONS, n_rows),
            "is_senior": age >= 65,
            "has_partner": rng.random(n_rows) < 0.45,
            "support_calls": rng.poisson(1.5, n_rows),
        }
    )
    churn = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-customers_logit(frame)))
    return frame.with_columns(churn=pl.Series(churn.astype(np.int64)))


def customers_logit(df: pl.DataFrame) -> np.ndarray:
    """The true log-odds of churn in ``customers``: the Bayes-optimal score a model can at best learn.

    logit = -1.2 + 1.1·[month-to-month] - 0.8·[two-year] - 0.03·(tenure_months - 30)
            + 0.02·(monthly_charges - 55) + 0.35·(support_calls - 1.5) + 0.5·[electronic check] + 0.4·is_senior
    """
    return (
        -1.2
        + 1.1 * (df["contract"] == "month-to-month").to_numpy()
        - 0.8 * (df["contract"] == "two-year").to_numpy()
        - 0.03 * (df["tenure_months"].to_numpy() - 30)
        + 0.02 * (df["monthly_charges"].to_numpy() - 55)
        + 0.35 * (df["support_calls"].to_numpy() - 1.5)
        + 0.5 * (df["payment_method"] == "electronic check").to_numpy()
        + 0.4 * df["is_senior"].to_numpy()
    )


def regression_table(
    n_rows: int = 1000, n_features: int = 5, noise: float = 1.0, seed: int = 0
) -> pl.DataFrame:
    """A regression table with a known linear target.

    Columns ``x0 … x{n_features-1}`` (standard normal), ``segment`` (categorical a/b/c) and ``y`` with
    y = 2 + Σ_j 0.5·(j + 1)·x_j + {a: 0, b: 1, c: -1}[segment] + noise·ε, ε standard normal.

    >>> regression_table(100, n_features=3).columns
    ['x0', 'x1', 'x2', 'segment', 'y']
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, n_features))
    segment = rng.choice(SEGMENTS, n_rows)
    coefficients = 0.5 * (np.arange(n_features) + 1)
    effect = np.vectorize(_SEGMENT_EFFECT.__getitem__, otypes=[float])(segment) if n_rows else np.zeros(0)
    y = 2.0 + x @ coefficients + effect + noise * rng.normal(size=n_rows)
    return pl.DataFrame({**{f"x{j}": x[:, j] for j in range(n_features)}, "segment": segment, "y": y})
