"""Wide sparse tables (SciPy CSR): logistic regression and an MLP, fieldguide vs scikit-learn on the same X.

The seeded table has 200k rows and 20 categorical fields of 10 to 20,000 levels each (60,630 one-hot columns,
20 non-zeros per row): 49 GB as a dense float32 array, 33 MB as CSR. The target is drawn from a logistic model
of per-level effects plus one interaction of two fields. Both libraries get the same CSR matrix and run their
defaults: ``LogisticRegression(C=1)`` (lbfgs for both; fieldguide in float32), and
``MLPClassifier(hidden_layer_sizes=(32,), max_iter=5)`` (Adam, batches of 200, 5 epochs; scikit-learn warns that
it has not converged, as it should at 5 epochs). Reported: the best of 3 warm fits (one for the MLPs) after a
first one in the same process, the final penalised log loss of the logistic regressions (float64, NumPy, at each
solution), and held-out accuracy (the last 20 % of rows) for all.

``--table text`` takes a seeded bag of words instead: 200k documents of log-normal lengths (median 17 distinct
words, the longest 737) over a Zipf vocabulary of 30,000 words, log(1 + count) scaled to unit length per document
(4.6M non-zeros), the target drawn from a logistic model of per-word effects; logistic regression only.
"fieldguide at 100 iterations" is fieldguide's logistic regression with scikit-learn's ``max_iter=100``, where
scikit-learn's lbfgs stops on both tables (fieldguide's default is 1,000): the two at an equal iteration budget.
``--one-block`` adds fieldguide's fit with every row kept at the longest row's slots (no overflow layout, see
``fieldguide.core.sparse``), to measure what the layout saves.

    python benchmarks/bench_sparse.py [--rows 200000] [--table one-hot|text] [--one-block]
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import scipy.sparse

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import best_time, table

FIELDS = np.geomspace(10, 20_000, 20).astype(int)


def one_hot_data(n: int, seed: int = 0):
    """The seeded CSR table and its binary target (see the module docstring)."""
    rng = np.random.default_rng(seed)
    codes = np.stack([np.minimum(rng.zipf(1.3, n) - 1, size - 1) for size in FIELDS], axis=1)
    offsets = np.concatenate([[0], np.cumsum(FIELDS)[:-1]])
    effects = [rng.normal(0, 0.5, size) for size in FIELDS]
    eta = sum(effects[f][codes[:, f]] for f in range(len(FIELDS))) - 0.5
    eta += np.where((codes[:, 0] % 2) == (codes[:, 1] % 2), 0.7, -0.7)  # an interaction of two fields
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int32)
    columns = (codes + offsets).ravel()
    indptr = np.arange(0, n * len(FIELDS) + 1, len(FIELDS))
    X = scipy.sparse.csr_matrix((np.ones(columns.size, np.float32), columns, indptr), shape=(n, FIELDS.sum()))
    return X, y


def text_data(n: int, seed: int = 0, vocabulary: int = 30_000):
    """The seeded bag of words and its binary target (see the module docstring)."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(np.ceil(rng.lognormal(3.2, 1.0, n)), 5_000).astype(np.int64)  # words per document
    words = np.minimum(rng.zipf(1.2, lengths.sum()), vocabulary) - 1
    documents = np.repeat(np.arange(n), lengths)
    X = scipy.sparse.csr_matrix((np.ones(words.size, np.float32), (documents, words)), shape=(n, vocabulary))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    X = scipy.sparse.diags(1 / np.sqrt(X.multiply(X).sum(axis=1).A1)).astype(np.float32) @ X
    eta = 3 * (X @ rng.normal(0, 1, vocabulary)) - 0.2
    return X.tocsr(), (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int32)


def one_block(counts, n_pad, levels=0):
    """fieldguide.core.sparse.layout without overflow: every row keeps the longest row's slots."""
    from fieldguide.core import sparse

    return sparse.slots(int(counts.max(initial=0))), 0


def slots_per_non_zero(X) -> float:
    """Slots (column, value) fieldguide stores per non-zero of X when it stages it for a fit."""
    import jax

    from fieldguide.core import _learner

    staged = _learner.stage_rows(X, X.shape[0], "float32")
    return sum(leaf.size for leaf in jax.tree.leaves(staged) if leaf.ndim == 2) / 2 / X.nnz


def estimators(problem: str, library: str):
    if library == "sklearn":
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
    else:
        from fieldguide.models import LogisticRegression, MLPClassifier
    if problem == "logistic":
        # scikit-learn's lbfgs stops at its max_iter=100 on these tables; fieldguide's default allows 1,000
        return LogisticRegression(C=1.0, **({"max_iter": 100} if library.endswith("100 iterations") else {}))
    return MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0)


def penalised_loss(est, X, y) -> float:
    eta = X.astype(np.float64) @ np.ravel(est.coef_).astype(np.float64) + float(np.ravel(est.intercept_)[0])
    coef = np.ravel(est.coef_).astype(np.float64)
    return float(np.mean(np.logaddexp(0, eta) - y * eta) + 0.5 / len(y) * coef @ coef)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--table", choices=["one-hot", "text"], default="one-hot")
    parser.add_argument("--one-block", action="store_true", help="add fieldguide without overflow layout")
    args = parser.parse_args()
    X, y = (one_hot_data if args.table == "one-hot" else text_data)(args.rows)
    cut = int(0.8 * args.rows)
    train, test = (X[:cut], y[:cut]), (X[cut:], y[cut:])
    counts = np.diff(X.indptr)
    print(
        f"X: {X.shape[0]} x {X.shape[1]}, {X.nnz} non-zeros ({X.data.nbytes / 1e6:.0f} MB of values), "
        f"{counts.min()} to {counts.max()} per row; fieldguide stores {slots_per_non_zero(X):.2f} slots per "
        "non-zero" + (f", {_one_block(slots_per_non_zero, X):.1f} in one block" if args.one_block else ""),
        file=sys.stderr,
    )
    libraries = ["sklearn", "fieldguide", "fieldguide at 100 iterations"]
    libraries += ["fieldguide one block"] if args.one_block else []
    rows = []
    for problem in ("logistic", "mlp") if args.table == "one-hot" else ("logistic",):
        row = {"problem": problem}
        for library in libraries if problem == "logistic" else libraries[:2]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scikit-learn's MLP has not converged in 5 epochs, by design
                repeats = 3 if problem == "logistic" else 1  # scikit-learn's MLP takes minutes per fit here

                def fit(est=estimators(problem, library)):
                    return est.fit(*train)

                run = (lambda: _one_block(fit)) if library.endswith("one block") else fit
                est = run()
                row[f"{library} warm s"] = best_time(run, repeats=repeats)
            row[f"{library} accuracy"] = est.score(*test)
            if problem == "logistic":  # the MLP's cells read "–"
                row[f"{library} loss"] = penalised_loss(est, *train)
                row[f"{library} iterations"] = int(np.max(est.n_iter_))
        row["warm ×"] = row["sklearn warm s"] / row["fieldguide warm s"]
        rows.append(row)
        print(f"done: {problem}", file=sys.stderr)
    columns = ["problem", *(f"{library} warm s" for library in libraries), "warm ×"]
    columns += [f"{library} {what}" for what in ("iterations", "loss", "accuracy") for library in libraries]
    print(table(rows, columns))


def _one_block(function, *args):
    """``function(*args)`` with fieldguide's sparse layout kept to one block."""
    from unittest import mock

    from fieldguide.core import sparse

    with mock.patch.object(sparse, "layout", one_block):
        return function(*args)


if __name__ == "__main__":
    main()
