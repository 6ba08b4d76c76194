"""The zoo on SciPy sparse X: wide one-hot tables that would not fit in memory dense, and what only a
factorization machine learns from them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import sklearn.linear_model as sk

from fieldguide import models

_TIGHT = {"dtype": "float64", "tol": 1e-9}


def _one_hot(codes: np.ndarray, sizes: list[int]) -> scipy.sparse.csr_matrix:
    """Rows of categorical codes (one column per field) as one-hot CSR, the fields side by side."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n, fields = codes.shape
    columns = (codes + offsets).ravel()
    indptr = np.arange(0, n * fields + 1, fields)
    return scipy.sparse.csr_matrix((np.ones(n * fields), columns, indptr), shape=(n, sum(sizes)))


def test_logistic_regression_on_a_wide_one_hot_table_matches_scikit_learn():
    # 3,000 rows x 200,000 columns: 2.4 GB as a dense float32 array, 36 KB of non-zeros
    rng = np.random.default_rng(0)
    sizes = [100_000, 99_990, 10]
    codes = np.stack(
        [rng.integers(0, 300, 3000), rng.integers(0, 99_990, 3000), rng.integers(0, 10, 3000)], 1
    )
    X = _one_hot(codes, sizes)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(codes[:, 0] % 3 - 1.0 + 0.3 * codes[:, 2] - 1.3)))).astype(int)
    ours = models.LogisticRegression(C=0.5, dtype="float64", tol=1e-10).fit(X, y)
    ref = sk.LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X[:50]), ref.predict_proba(X[:50]), atol=1e-6)


def test_a_factorization_machine_learns_the_user_item_interaction_a_linear_model_cannot():
    rng = np.random.default_rng(0)
    users, items, n = 300, 300, 24_000
    taste_u, taste_i = rng.normal(size=(users, 2)), rng.normal(size=(items, 2))
    codes = np.stack([rng.integers(0, users, n), rng.integers(0, items, n)], 1)
    y = (np.sum(taste_u[codes[:, 0]] * taste_i[codes[:, 1]], axis=1) > 0).astype(int)
    X = _one_hot(codes, [users, items])
    train, test = slice(0, 20_000), slice(20_000, None)
    fm = models.FactorizationMachineClassifier(rank=4, max_iter=30, random_state=0, learning_rate_init=0.01)
    fm_accuracy = fm.fit(X[train], y[train]).score(X[test], y[test])
    linear_accuracy = models.LogisticRegression().fit(X[train], y[train]).score(X[test], y[test])
    assert linear_accuracy < 0.6  # user and item effects alone: the sign of a dot product is not additive
    assert fm_accuracy > 0.85, (fm_accuracy, linear_accuracy)


@pytest.mark.parametrize(
    "make",
    [
        # the linear models to their optimum, where the solver (dense X may take Newton) cannot matter
        lambda: models.Ridge(alpha=0.1, **_TIGHT),
        lambda: models.ElasticNet(alpha=0.01, **_TIGHT),
        lambda: models.HuberRegressor(**_TIGHT),
        lambda: models.TweedieRegressor(power=0, **_TIGHT),
        lambda: models.MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
        lambda: models.FactorizationMachineRegressor(rank=2, max_iter=20, random_state=0),
    ],
    ids=["ridge", "elastic net", "huber", "tweedie", "mlp", "fm"],
)
def test_a_regressor_fitted_on_sparse_x_predicts_as_on_dense(make):
    rng = np.random.default_rng(0)
    X = np.where(rng.random((400, 6)) < 0.4, rng.normal(size=(400, 6)), 0.0)
    y = X @ np.linspace(-1, 1, 6) + 0.1 * rng.normal(size=400)
    dense = make().fit(X, y)
    on_sparse = make().fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(on_sparse.predict(X), dense.predict(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(on_sparse.predict(scipy.sparse.csc_matrix(X)), on_sparse.predict(X), atol=1e-6)


def test_mlp_partial_fit_takes_sparse_batches():
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(600, 50, density=0.1, format="csr", random_state=0)
    y = (X @ rng.normal(size=50) > 0).astype(int)
    batched = models.MLPClassifier(hidden_layer_sizes=(8,), random_state=0, shuffle=False)
    for start in range(0, 600, 200):
        batched.partial_fit(X[start : start + 200], y[start : start + 200], classes=[0, 1])
    assert batched.n_iter_ == 3 and len(batched.loss_curve_) == 3
    assert batched.predict_proba(X).shape == (600, 2)


def test_quantile_regression_refuses_sparse_x_with_scikit_learns_message():
    X = scipy.sparse.random(50, 3, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match=r"dense data is required\. Use '\.toarray\(\)'"):
        models.QuantileRegressor().fit(X, np.arange(50.0))
    assert not models.QuantileRegressor().__sklearn_tags__().input_tags.sparse
    assert models.Ridge().__sklearn_tags__().input_tags.sparse
