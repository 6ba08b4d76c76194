"""Quantile regression: fieldguide's interior point solver vs scikit-learn's QuantileRegressor (HiGHS), same data.

Both solve the same linear program (pinball loss at q = 0.7 plus alpha·||β||₁) to its optimum. The objective of
each solution is evaluated in float64 by NumPy ("objective gap": fieldguide's relative excess, negative when
lower), beside the coefficients' relative distance. fieldguide runs in float64 here (its float32 default reaches
the same objective to ~1e-7). "first" is its first fit in this process (compilation included, the persistent
cache filled by an earlier run), "warm" the best of 3 after it; scikit-learn, which compiles nothing, is timed
once. scikit-learn's time grows quickly with the rows: keep ``--rows`` modest.

    python benchmarks/bench_quantile.py [--rows 2000 10000 30000] [--features 20]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import best_time, table

QUANTILE, ALPHA = 0.7, 1e-3


def data(n: int, d: int, seed: int = 0):
    """Columns on different scales and offsets, heavy-tailed noise (Student t, 3 degrees of freedom)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d) + rng.uniform(-5.0, 5.0, d)
    return X, X @ rng.normal(size=d) + rng.standard_t(3, size=n)


def objective(est, X, y) -> float:
    r = y - X @ est.coef_ - est.intercept_
    return float(np.mean(np.maximum(QUANTILE * r, (QUANTILE - 1) * r)) + ALPHA * np.abs(est.coef_).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000, 10_000, 30_000])
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    from sklearn import linear_model

    from fieldguide import models

    rows = []
    for n in args.rows:
        X, y = data(n, args.features)
        sk = linear_model.QuantileRegressor(quantile=QUANTILE, alpha=ALPHA)
        ours = models.QuantileRegressor(quantile=QUANTILE, alpha=ALPHA, dtype="float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's notes on its solver choice
            sk_seconds = best_time(lambda sk=sk, X=X, y=y: sk.fit(X, y), repeats=1)
        start = time.perf_counter()
        ours.fit(X, y)
        first = time.perf_counter() - start
        warm = best_time(lambda ours=ours, X=X, y=y: ours.fit(X, y), repeats=3)
        gap = np.linalg.norm(ours.coef_ - sk.coef_) / np.linalg.norm(sk.coef_)
        rows.append(
            {
                "rows × features": f"{n} × {args.features}",
                "sklearn s": sk_seconds,
                "fieldguide first s": first,
                "fieldguide warm s": warm,
                "first ×": sk_seconds / first,
                "warm ×": sk_seconds / warm,
                "sklearn objective": objective(sk, X, y),
                "objective gap": objective(ours, X, y) / objective(sk, X, y) - 1,
                "fieldguide iterations": ours.n_iter_,
                "coef gap": float(gap),
            }
        )
        print(f"done: {n} rows", file=sys.stderr)
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
