"""Many small tables in one process, as in a notebook or a sweep over small data sets: fieldguide pays a JIT
compilation per new shape, scikit-learn pays nothing, so this is where fieldguide is weakest.

33 seeded tables of 30, 60, ..., 990 rows × 5 features; in one fresh process, each model is fitted on each table
and predicts it. fieldguide runs cold (``FIELDGUIDE_JAX_CACHE=0``: compiling from scratch) and cached (a second
process finding the persistent compilation cache that the first filled, in a temporary directory), scikit-learn
in its own fresh process. MLPs: one hidden layer of 16, at most 20 epochs, batch_size="auto" (the whole table).
``--widths``: the tables have 2, 3, ..., 12, 2, 3, ... columns instead of 5, as a sweep over feature subsets.

    python benchmarks/bench_small.py [--widths]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_process, table

SIZES = range(30, 1000, 30)
MODELS = ("LogisticRegression", "MLPClassifier")


def make(library: str, model: str):
    if library == "fieldguide":
        from fieldguide import models as zoo
    else:
        import sklearn.linear_model
        import sklearn.neural_network

        zoo = sklearn.linear_model if model == "LogisticRegression" else sklearn.neural_network
    if model == "MLPClassifier":
        return getattr(zoo, model)((16,), max_iter=20, random_state=0)
    return getattr(zoo, model)()


def child(library: str, model: str, widths: bool) -> None:
    rng = np.random.default_rng(0)
    tables = []
    for i, n in enumerate(SIZES):
        X = rng.normal(size=(n, 2 + i % 11 if widths else 5))
        tables.append((X, (X[:, 0] + rng.normal(size=n) > 0).astype(int)))
    warnings.simplefilter("ignore")  # 20 epochs are short of convergence in both libraries
    make(library, model)  # imports outside the timing
    start = time.perf_counter()
    for X, y in tables:
        make(library, model).fit(X, y).predict(X)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", action="store_true", help="tables of 2 to 12 columns instead of 5")
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "MODEL"))
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.widths)
    rows = []
    widths = ("--widths",) if args.widths else ()
    for model in MODELS:
        sklearn_s = fresh_process("bench_small.py", *widths, "--child", "sklearn", model)["seconds"]
        cold = fresh_process(
            "bench_small.py", *widths, "--child", "fieldguide", model, env={"FIELDGUIDE_JAX_CACHE": "0"}
        )
        with tempfile.TemporaryDirectory() as cache:
            env = {"FIELDGUIDE_CACHE": cache, "FIELDGUIDE_JAX_CACHE": "1"}
            command = ("bench_small.py", *widths, "--child", "fieldguide", model)
            fresh_process(*command, env=env)  # fills the cache
            cached = fresh_process(*command, env=env)
        rows.append(
            {
                "model": model,
                "sklearn s": sklearn_s,
                "fieldguide cold s": cold["seconds"],
                "fieldguide cached s": cached["seconds"],
                "cold ×": sklearn_s / cold["seconds"],
                "cached ×": sklearn_s / cached["seconds"],
            }
        )
        print(f"done: {model}", file=sys.stderr)
    columns = "2..12" if args.widths else "5"
    print(f"{len(SIZES)} tables of {SIZES[0]}..{SIZES[-1]} rows x {columns} columns; {os.cpu_count()} cores")
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
