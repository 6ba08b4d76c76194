"""A SciPy sparse X: staged as SparseRows, trained by the same loops, to the fits a dense X gives."""

from __future__ import annotations

from unittest import mock

import jax
import numpy as np
import pytest
import scipy.sparse
import sklearn.linear_model
from core_data import features, target

from fieldguide.core import (
    Learner,
    _learner,
    _solvers,
    models,
    objectives,
    optax_optimizer,
    penalties,
    sparse,
)
from fieldguide.errors import DataError
from fieldguide.models import LogisticRegression


def _sparse_features(n: int = 300, density: float = 0.3, seed: int = 0) -> np.ndarray:
    """Dense features with most entries zero (the matrix the sparse fits must agree with)."""
    X = features(seed, n=n)
    return np.where(np.random.default_rng(seed + 1).random(X.shape) < density, X, 0.0)


def _skewed_features(n: int = 600, d: int = 64, seed: int = 0) -> np.ndarray:
    """Rows of 1-3 non-zeros, every 20th of 24 and every 150th full: the long rows (text's long documents) that
    the layout keeps in two levels of overflow."""
    rng = np.random.default_rng(seed)
    counts = np.where(np.arange(n) % 20 == 0, 24, rng.integers(1, 4, n))
    counts[::150] = d
    X = np.zeros((n, d))
    for row, count in enumerate(counts):
        X[row, rng.choice(d, count, replace=False)] = rng.normal(size=count)
    return X


DATA = {"uniform": _sparse_features, "skewed": _skewed_features}


def _levels(rows: sparse.SparseRows) -> list[tuple[int, int]]:
    """The shape of each level of the layout: the rows, then each overflow's lines."""
    return [rows.columns.shape] + ([] if rows.overflow is None else _levels(rows.overflow))


def _dense(rows: sparse.SparseRows) -> np.ndarray:
    """The dense matrix the rows hold, overflow included."""
    joined = rows.take(np.arange(rows.shape[0]), promise=False)
    dense = np.zeros(rows.shape)
    np.add.at(dense, (np.arange(rows.shape[0])[:, None], joined.columns), joined.values)
    return dense


def _leaves(params) -> np.ndarray:
    return np.concatenate([np.ravel(p) for p in jax.tree.leaves(params)])


ADAM = optax_optimizer("adam", learning_rate=1e-2)
CASES = {
    "logistic lbfgs": (models.Linear(), objectives.LogLoss() + penalties.L2(1e-2), "lbfgs", "binary"),
    "poisson lbfgs": (models.Linear(), objectives.Poisson() + penalties.L2(1e-2), "lbfgs", "count"),
    "lasso fista": (models.Linear(), objectives.SquaredError() + penalties.L1(5e-2), "proximal", "real"),
    "softmax lbfgs": (
        models.Linear(),
        objectives.SoftmaxCrossEntropy() + penalties.L2(1e-2),
        "lbfgs",
        "multiclass",
    ),
    "mlp adam": (models.MLP(hidden=(8,)), objectives.LogLoss() + penalties.L2(1e-4), ADAM, "binary"),
    "fm adam": (models.FactorizationMachine(rank=3), objectives.SquaredError(), ADAM, "real"),
}


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_sparse_fit_equals_the_dense_fit(case, data):
    model, objective, optimizer, kind = CASES[case]
    X = DATA[data]()
    y = target(kind, X[:, :5])
    learner = Learner(model, objective, optimizer, dtype="float64", tol=1e-10, verbose=False)
    fit = {"epochs": 5, "batch_size": 64, "seed": 0}
    dense, sparse_fit = learner.fit(X, y, **fit), learner.fit(scipy.sparse.csr_matrix(X), y, **fit)
    # a full-batch fit may stop where the loss no longer decreases (by 4 eps) before its gradient tolerance: on
    # the skewed Poisson problem 1-2e-6 (relative) from the optimum, where the two products' rounding decides
    rtol = 1e-5 if isinstance(optimizer, str) else 1e-7
    np.testing.assert_allclose(_leaves(sparse_fit.params), _leaves(dense.params), rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(sparse_fit.predict(scipy.sparse.csr_matrix(X)), dense.predict(X), atol=1e-9)
    assert sparse_fit.objective_value(scipy.sparse.csr_matrix(X), y) == pytest.approx(
        dense.objective_value(X, y), rel=1e-9
    )
    if objective.penalty.l1_strength:  # exact zeros in the same places
        zeros = [np.asarray(fit.params["coef"]) == 0 for fit in (sparse_fit, dense)]
        assert zeros[0].any() and np.array_equal(*zeros)


@pytest.mark.parametrize(
    "convert",
    [
        scipy.sparse.csr_matrix,
        scipy.sparse.csc_matrix,
        scipy.sparse.coo_matrix,
        scipy.sparse.csr_array,
        scipy.sparse.lil_array,
        lambda X: scipy.sparse.csr_matrix(X).astype(np.float32),
    ],
    ids=["csr", "csc", "coo", "csr_array", "lil_array", "csr_float32"],
)
def test_every_scipy_format_trains_and_predicts(convert):
    X = _sparse_features()
    y = target("binary", X)
    learner = Learner(models.Linear(), objectives.LogLoss(), verbose=False)
    expected = learner.fit(X, y).predict(X)
    np.testing.assert_allclose(learner.fit(convert(X), y).predict(convert(X)), expected, atol=1e-5)


def test_sparse_rows_are_laid_out_as_the_dense_rows_are():
    X = _sparse_features(n=50)
    csr = scipy.sparse.csr_matrix(X)
    rows = np.random.default_rng(0).permutation(50)[:37]
    for shards in (1, 3):
        n_pad = 3 * 16
        staged = _learner.stage_rows(csr, n_pad, "float64", rows, shards)
        expected = _learner.stage_rows(X, n_pad, "float64", rows, shards)
        np.testing.assert_array_equal(_dense(staged), expected)
        assert staged.shape == expected.shape and staged.columns.dtype == np.int32
    # parts on devices are cut by rows alone: one block, as many slots as the longest row needs
    assert _levels(staged) == [(n_pad, sparse.slots(int(np.diff(csr[rows].indptr).max())))]


def test_long_rows_keep_their_rest_in_overflow_so_memory_stays_near_the_non_zeros():
    X = _skewed_features()
    csr = scipy.sparse.csr_matrix(X)
    staged = _learner.stage_rows(csr, 640, "float64")
    np.testing.assert_array_equal(_dense(staged), np.pad(X, ((0, 40), (0, 0))))
    # 30 rows of 24 (and 2 full ones) overflow 4 slots into 64 lines; the 4 full rows overflow 20 more into 8
    assert _levels(staged) == [(640, 4), (64, 20), (8, 40)]
    stored = sum(a * b for a, b in _levels(staged))
    assert stored < 2.5 * csr.nnz and 8 * stored < 640 * 64  # the plain layout: 64 slots in every row
    rows = np.random.default_rng(0).permutation(600)[:450]  # a fold, padded to its bucket
    staged = _learner.stage_rows(csr, 480, "float64", rows)
    np.testing.assert_array_equal(_dense(staged), _learner.stage_rows(X, 480, "float64", rows))
    assert staged.overflow is not None


def test_padding_slots_are_spread_over_the_columns():
    # a gradient scatter-adds every slot, padding too: slots all naming column 0 would queue on one address
    staged = _learner.stage_rows(scipy.sparse.csr_matrix(_skewed_features()), 640, "float64")
    for level in (staged, staged.overflow, staged.overflow.overflow):
        columns, values = np.asarray(level.columns), np.asarray(level.values)
        padding = columns[values == 0]
        assert padding.size > 64 and np.bincount(padding).max() <= padding.size / 16  # was all of them


def test_a_layout_overflows_only_where_it_saves_a_quarter():
    n = 1000
    assert sparse.layout(np.full(n, 9), n) == (sparse.slots(9), 0)  # one-hot: every row alike
    # one long row: its line and the line of zeros, in 8 lines at least
    assert sparse.layout(np.r_[np.full(n - 1, 2), 9], n) == (2, 8)
    # 10 rows of 100 among rows of 3: 2 slots, then 1024 lines (every row holds more) of 1 slot, whose 10 long
    # lines keep their 97 more in 16 lines of slots(97) = 104: 2000 + 1024 + 1664 slots stored, not 112 for all
    counts = np.r_[np.full(n - 10, 3), np.full(10, 100)]
    assert sparse.layout(counts, n) == (2, 1024) and sparse.layout(counts, n, levels=1) == (4, 16)
    halves = np.r_[np.full(n // 2, 6), np.full(n // 2, 8)]
    assert sparse.layout(halves, n) == (8, 0)  # an overflow would save too little


def test_slots_are_few_and_waste_at_most_a_quarter_above_eight():
    assert [sparse.slots(k) for k in (0, 1, 2, 3, 5, 8, 9, 13, 100)] == [1, 1, 2, 4, 8, 8, 10, 14, 112]
    for k in range(9, 5000):
        assert k <= sparse.slots(k) <= 1.25 * k


@pytest.mark.parametrize("data", DATA)
def test_sparse_products_and_gathers_match_dense(data):
    X = DATA[data]()
    rows = _learner.stage_rows(scipy.sparse.csr_matrix(X), len(X), "float64")
    W = np.random.default_rng(0).normal(size=(X.shape[1], 3, 2))
    some = np.array([150, 4, 20, 2])  # a full row, a short one, a row of 24, another short one
    with jax.enable_x64(True):
        np.testing.assert_allclose(rows @ W, np.einsum("nd,drk->nrk", X, W), atol=1e-12)
        np.testing.assert_allclose(rows.square() @ W[:, 0, 0], np.square(X) @ W[:, 0, 0], atol=1e-12)
        for pick in (lambda r, i: r[i], lambda r, i: r.take(i)):  # a minibatch's rows, their overflow joined
            picked = jax.jit(pick)(rows, some)
            assert picked.overflow is None
            np.testing.assert_allclose(picked @ W[:, 0], X[some] @ W[:, 0], atol=1e-12)


@pytest.mark.parametrize("data", DATA)
def test_the_column_statistics_of_sparse_rows_are_the_dense_ones(data):
    X = DATA[data]() * np.geomspace(0.01, 100, 64 if data == "skewed" else 5)  # columns far from standard
    w = np.random.default_rng(1).random(len(X))
    rows = _learner.stage_rows(scipy.sparse.csr_matrix(X), 640, "float64")
    found = _solvers.preconditioner(rows, np.pad(w, (0, 40)), len(X), fit_intercept=True)
    expected = _solvers.preconditioner(X, w, len(X), fit_intercept=True, rows=len(X))  # every dense row
    for key in ("shift", "scale"):
        np.testing.assert_allclose(found[key], expected[key], rtol=1e-10)


def _words(n: int = 4000, d: int = 2000, seed: int = 0):
    """A bag of words: 3-29 Zipf-drawn words per row (most columns rare), unit-length rows, a logistic target."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 30, n)
    columns = np.minimum(rng.zipf(1.2, lengths.sum()), d) - 1
    X = scipy.sparse.csr_matrix((np.ones(columns.size), (np.repeat(np.arange(n), lengths), columns)), (n, d))
    X.sum_duplicates()
    X = scipy.sparse.diags(1 / np.sqrt(X.multiply(X).sum(axis=1).A1)) @ X
    return X.tocsr(), (rng.random(n) < 1 / (1 + np.exp(-3 * (X @ rng.normal(size=d))))).astype(int)


def test_the_preconditioner_weighs_each_columns_spread_against_the_penalty():
    X = _skewed_features() * np.geomspace(0.01, 100, 64)  # columns far from standard
    plain = _solvers.preconditioner(X, np.ones(len(X)), len(X), fit_intercept=True, rows=len(X))
    found = _solvers.preconditioner(X, np.ones(len(X)), len(X), fit_intercept=True, ridge=0.3, rows=len(X))
    np.testing.assert_allclose(found["scale"], np.sqrt(np.square(plain["scale"]) + 0.3), rtol=1e-6)
    np.testing.assert_array_equal(found["shift"], plain["shift"])
    # on rare words, stretching each column to unit spread leaves the penalty's curvature outgrowing the data's
    X, y = _words()
    ours = LogisticRegression(dtype="float64", tol=1e-10).fit(X, y)
    unweighed = _solvers.preconditioner
    with mock.patch.object(_solvers, "preconditioner", lambda *a, ridge, **k: unweighed(*a, **k)):
        plain = LogisticRegression(dtype="float64", tol=1e-10).fit(X, y)
    assert ours.n_iter_ <= 20 and 5 * ours.n_iter_ < plain.n_iter_  # 10 against 275 when written
    reference = sklearn.linear_model.LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    for fit in (ours, plain):
        np.testing.assert_allclose(fit.coef_, reference.coef_, rtol=1e-4, atol=1e-6)


def test_a_non_finite_sparse_value_is_named_by_its_row_and_column():
    X = scipy.sparse.csr_matrix(_sparse_features())
    X.data[X.indptr[7]] = np.nan  # row 7's first entry
    column = X.indices[X.indptr[7]]
    with pytest.raises(DataError, match=r"X: expected finite values in float32, found NaN or inf in 1 row\(s\), "
                       rf"first at row 7, column {column}$"):  # fmt: skip
        Learner(models.Linear(), objectives.LogLoss(), verbose=False).fit(X, target("binary", X.toarray()))


def test_solvers_that_need_a_dense_x_say_so():
    X = scipy.sparse.csr_matrix(_sparse_features())
    y = target("real", X.toarray())
    with pytest.raises(ValueError, match=r"optimizer 'newton' works on a dense X.*use 'lbfgs'"):
        Learner(models.Linear(), objectives.SquaredError(), "newton", verbose=False).fit(X, y)
    learner = Learner(models.Linear(), objectives.Pinball(0.5), "interior_point", verbose=False)
    with pytest.raises(ValueError, match=r"'interior_point' works on a dense X.*X\.toarray\(\)"):
        learner.fit(X, y)


def test_bad_sparse_shapes_and_dtypes_are_named():
    learner = Learner(models.Linear(), objectives.SquaredError(), verbose=False)
    with pytest.raises(DataError, match="at least one row and one feature, found shape"):
        learner.fit(scipy.sparse.csr_matrix((0, 3)), np.zeros(0))
    with pytest.raises(DataError, match="sparse matrix of numbers, found dtype complex128"):
        learner.fit(scipy.sparse.csr_matrix(np.eye(3, dtype=complex)), np.zeros(3))
    built = scipy.sparse.csr_matrix((np.ones(2), np.array([0, 5]), np.array([0, 1, 2])), shape=(2, 3))
    with pytest.raises(DataError, match="3 columns stores column indices from 0 to 5; expected 0 to 2"):
        learner.fit(built, np.zeros(2))  # a hand-built CSR whose index lies past its shape


def test_a_minibatch_fit_on_sparse_rows_compiles_once_per_bucket():
    X = scipy.sparse.csr_matrix(_sparse_features(n=400, density=0.5))  # every 300 rows hold a full row
    y = target("binary", X.toarray())
    learner = Learner(models.MLP(hidden=(4,)), objectives.LogLoss(), ADAM, verbose=False)
    learner.fit(X[:300], y[:300], epochs=2, batch_size=64)
    before = _solvers.TRACES["optax"]
    for start in (10, 50, 90):  # 300 rows of the same bucket and slots, other rows
        learner.fit(X[start : start + 300], y[start : start + 300], epochs=2, batch_size=64)
    assert _solvers.TRACES["optax"] == before


def test_a_minibatch_fit_on_skewed_rows_with_validation_equals_the_dense_fit_and_compiles_once():
    X = _skewed_features(n=800)
    y = target("binary", X[:, :5])
    learner = Learner(models.MLP(hidden=(8,)), objectives.LogLoss(), ADAM, dtype="float64", verbose=False)
    fit = {"epochs": 6, "batch_size": 64, "validation_fraction": 0.2, "patience": 2, "seed": 0}
    csr = scipy.sparse.csr_matrix(X)
    dense, on_sparse = learner.fit(X[:600], y[:600], **fit), learner.fit(csr[:600], y[:600], **fit)
    np.testing.assert_allclose(_leaves(on_sparse.params), _leaves(dense.params), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(on_sparse.history["val_loss"], dense.history["val_loss"], rtol=1e-9)
    before = _solvers.TRACES["optax"]
    for start in (20, 200):  # other rows, whose long rows fall in the same bucket, slots and overflow lines
        learner.fit(csr[start : start + 600], y[start : start + 600], **fit)
    assert _solvers.TRACES["optax"] == before
