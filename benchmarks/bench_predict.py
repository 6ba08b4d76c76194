"""Prediction latency in process: ``predict_proba`` of a fitted logistic regression (50 features) on 1 row (what
a server answers), 100, 10,000 and 200,000 rows, fieldguide vs scikit-learn on the same rows.

Both models are fitted once on the seeded 200k x 50 problem of ``bench_glm.py``; each time is the best of
``--repeats`` loops of ``--calls`` calls (fewer calls for the larger batches), after a warm-up call, so
fieldguide's compiled program for the row bucket exists. The largest difference between the two libraries'
probabilities is printed beside the times. Then the memory of a first call on ``--memory-rows`` rows (the 200k rows
repeated), each library in a fresh process (Linux): "peak/X", the growth of the peak RSS during the call over the
RSS before it, and "kept/X", the RSS still taken after the call returned and its outputs were dropped, both
divided by the size of X.

    python benchmarks/bench_predict.py [--calls 2000] [--repeats 5] [--memory-rows 2000000]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # as bench_glm.py, before NumPy loads OpenBLAS

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import fresh_process, glm_data, peak_and_kept, per_call, table

SIZES = (1, 100, 10_000, 200_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per loop for one row")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-rows", type=int, default=2_000_000, help="rows of the memory measurement")
    parser.add_argument("--child", choices=["sklearn", "fieldguide"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.memory_rows)

    import sklearn.linear_model as lm

    from fieldguide import models

    X, y = glm_data("logistic")
    ours, theirs = models.LogisticRegression().fit(X, y), lm.LogisticRegression().fit(X, y)
    rows = []
    for n in SIZES:
        calls = max(5, args.calls // max(1, n // 100))
        Xn = X[:n]
        fg = per_call(ours.predict_proba, Xn, calls, args.repeats)
        sk = per_call(theirs.predict_proba, Xn, calls, args.repeats)
        gap = float(np.abs(ours.predict_proba(Xn) - theirs.predict_proba(Xn)).max())
        rows.append(
            {"rows": n, "sklearn ms": sk * 1e3, "fieldguide ms": fg * 1e3, "×": sk / fg, "max |Δp|": gap}
        )
        print(f"done: {n} rows", file=sys.stderr)
    print(table(rows, ["rows", "sklearn ms", "fieldguide ms", "×", "max |Δp|"]))
    print(f"\npredict_proba of {args.memory_rows:,} rows, a first call in a fresh process:")
    memory = [
        {"library": library}
        | fresh_process(__file__, "--child", library, "--memory-rows", str(args.memory_rows))
        for library in ("sklearn", "fieldguide")
    ]
    print(table(memory, ["library", "MB of X", "peak/X", "kept/X"]))


def child(library: str, rows: int) -> None:
    """Fresh process: fit, predict 1,000 rows (compiles), then measure one call on ``rows`` rows; prints JSON."""
    import json

    X, y = glm_data("logistic")
    if library == "sklearn":
        import sklearn.linear_model as lm

        model = lm.LogisticRegression().fit(X, y)
    else:
        from fieldguide import models

        model = models.LogisticRegression().fit(X, y)
    big = np.tile(X, (-(-rows // len(X)), 1))[:rows]
    model.predict_proba(big[:1000])
    peak, kept = peak_and_kept(lambda: model.predict_proba(big))
    print(json.dumps({"MB of X": big.nbytes / 1e6, "peak/X": peak / big.nbytes, "kept/X": kept / big.nbytes}))


if __name__ == "__main__":
    main()
