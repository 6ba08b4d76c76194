"""GLM fits (logistic, Poisson, ridge) on a seeded 200k × 50 dense problem: fieldguide vs scikit-learn.

Both get the same float32 X. scikit-learn runs its defaults (lbfgs for logistic and Poisson; Ridge's "auto"
solver, which is Cholesky for dense X); fieldguide runs its defaults (float32, tol 1e-6; L-BFGS, or Newton when
the columns' scales span more than 10x). ``--scaled`` gives the features scales from 0.03 to 30 and correlations,
as raw tables have them (scikit-learn's documentation asks users to standardise first). The final loss of each
(the same penalised mean loss, evaluated in float64 by NumPy) is reported next to the times, so the speed-up is
read at equal (or lower) loss. "first" is a fresh process with the persistent compilation cache filled by an
earlier run, "cold" one compiling from scratch; "warm peak/X" is the peak memory of a repeated fit (no compiler),
and on a GPU "device peak/X" the first fit's peak on the device ("cold device peak/X": compiling from scratch).
``--offset`` moves the targets' level (the true intercept): rare positive labels, large counts. ``--order F``
hands both libraries a column-major X, as ``DataFrame.to_numpy()`` in pandas and Polars gives it.

    python benchmarks/bench_glm.py [--rows 200000] [--scaled] [--offset 0] [--order C] [--devices all]

``--devices`` (an integer or ``all``) trains fieldguide data parallel over that many of JAX's devices (GPUs).

OpenBLAS's idle threads spin for a while after each call (``OPENBLAS_THREAD_TIMEOUT``, 2^28 cycles by default),
taking the cores from the Python and SciPy work between scikit-learn's BLAS calls: on a 2-core machine its
lbfgs fits ran 1.7x slower so. The script therefore sets a short timeout (2^4 cycles) unless the environment
sets one, in this process and the fresh ones it starts; ``OPENBLAS_THREAD_TIMEOUT=28`` measures the default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before NumPy loads OpenBLAS; see the docstring

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import best_time, devices_arg, fresh_process, glm_data, measure_once, table

PROBLEMS = ("logistic", "poisson", "ridge")
ALPHA = {"logistic": 1.0, "poisson": 1e-3, "ridge": 1.0}  # C for logistic


def estimators(problem: str, library: str, devices=None):
    if library == "sklearn":
        import sklearn.linear_model as lm

        return {
            "logistic": lambda: lm.LogisticRegression(C=ALPHA["logistic"]),
            "poisson": lambda: lm.PoissonRegressor(alpha=ALPHA["poisson"]),
            "ridge": lambda: lm.Ridge(alpha=ALPHA["ridge"]),
        }[problem]()
    from fieldguide import models

    return {
        "logistic": lambda: models.LogisticRegression(C=ALPHA["logistic"], devices=devices),
        "poisson": lambda: models.PoissonRegressor(alpha=ALPHA["poisson"], devices=devices),
        "ridge": lambda: models.Ridge(alpha=ALPHA["ridge"], devices=devices),
    }[problem]()


def final_loss(problem: str, est, X, y) -> float:
    """The objective both minimise, in the core's mean form (scikit-learn's divided by n), in float64."""
    X = X.astype(np.float64)
    coef = np.ravel(est.coef_)
    eta = X @ coef + float(np.ravel(est.intercept_)[0])
    n = len(y)
    if problem == "logistic":
        return float(np.mean(np.logaddexp(0, eta) - y * eta) + 0.5 / (ALPHA["logistic"] * n) * coef @ coef)
    if problem == "poisson":
        return float(np.mean(np.exp(eta) - y * eta) + ALPHA["poisson"] / 2 * coef @ coef)
    return float(np.mean((y - eta) ** 2) / 2 + ALPHA["ridge"] / (2 * n) * coef @ coef)


def data(problem: str, args):
    X, y = glm_data(problem, n=args.rows, scaled=args.scaled, offset=args.offset)
    return (np.asfortranarray(X) if args.order == "F" else X), y


def child(problem: str, library: str, args) -> None:
    """Fresh process: one fit (compile included) and its peak memory; prints JSON."""
    X, y = data(problem, args)
    est = estimators(problem, library, args.devices)
    result = measure_once(lambda: est.fit(X, y), X.nbytes)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--scaled", action="store_true", help="correlated features of scales 0.03 to 30")
    parser.add_argument(
        "--offset", type=float, default=0.0, help="added to the linear predictor (-4: rare positives)"
    )
    parser.add_argument(
        "--order", choices=("C", "F"), default="C", help="X row-major (C) or column-major (F)"
    )
    parser.add_argument("--devices", type=devices_arg, help="fieldguide's devices: an integer or 'all'")
    parser.add_argument("--child", nargs=2, metavar=("PROBLEM", "LIBRARY"))
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args)
    rows = []
    for problem in PROBLEMS:
        X, y = data(problem, args)
        row = {"problem": problem}
        for library in ("sklearn", "fieldguide"):
            args_ = ("bench_glm.py", "--rows", str(args.rows), "--child", problem, library)
            args_ += ("--scaled",) if args.scaled else ()
            args_ += ("--offset", str(args.offset), "--order", args.order)
            args_ += ("--devices", str(args.devices)) if args.devices else ()
            cold = fresh_process(*args_, env={"FIELDGUIDE_JAX_CACHE": "0"})  # compiling from scratch
            fresh_process(*args_)  # fills the persistent compilation cache (a user's earlier run)
            first = fresh_process(*args_)  # a new process, cache warm: what a user sees from then on
            est = estimators(problem, library, args.devices).fit(X, y)
            row[f"{library} warm s"] = best_time(lambda est=est, X=X, y=y: est.fit(X, y), repeats=10)
            row[f"{library} first s"] = first["seconds"]
            row[f"{library} cold s"] = cold["seconds"]
            row[f"{library} loss"] = final_loss(problem, est, X, y)
            row[f"{library} peak/X"] = first["peak_over_x"]
            row[f"{library} warm peak/X"] = first["warm_peak_over_x"]
            if "device_peak_over_x" in first:
                row[f"{library} device peak/X"] = first["device_peak_over_x"]
                row[f"{library} cold device peak/X"] = cold["device_peak_over_x"]  # what compiling takes, too
        row["warm ×"] = row["sklearn warm s"] / row["fieldguide warm s"]
        row["first ×"] = row["sklearn first s"] / row["fieldguide first s"]
        row["cold ×"] = row["sklearn first s"] / row["fieldguide cold s"]
        rows.append(row)
        print(f"done: {problem}", file=sys.stderr)
    columns = [
        "problem",
        "sklearn warm s",
        "fieldguide warm s",
        "warm ×",
        "sklearn first s",
        "fieldguide first s",
        "first ×",
        "fieldguide cold s",
        "cold ×",
        "sklearn loss",
        "fieldguide loss",
        "sklearn peak/X",
        "fieldguide peak/X",
        "sklearn warm peak/X",
        "fieldguide warm peak/X",
    ]
    devices = [
        f"{library} {kind}device peak/X" for library in ("sklearn", "fieldguide") for kind in ("", "cold ")
    ]
    columns += [column for column in devices if any(column in row for row in rows)]
    print(table(rows, columns))


if __name__ == "__main__":
    main()
