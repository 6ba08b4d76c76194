"""One table of (model, objective, optimizer) cases drives the shared tests, Optax-style.

Convergence is checked against a reference fitted on the same seeded data in float64 (scikit-learn, NumPy or
SciPy): coefficients within ``coef_rtol`` of the reference, and our own objective at the reference's parameters
within ``objective_rtol`` of our optimum. The same table checks dtype preservation, sample weight == duplication
and seed reproducibility.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import optax
import pytest
import scipy.optimize
from core_data import features, target
from sklearn import linear_model, svm

from fieldguide.core import Learner, models, objectives, optax_optimizer, penalties

ALPHA = 0.01


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    model: models.Model
    objective: objectives.Objective
    optimizer: Any
    kind: str  # the target, see conftest.target
    reference: Callable[[np.ndarray, np.ndarray], dict] | None = (
        None  # -> {"coef": (d, k), "intercept": (k,)}
    )
    coef_rtol: float = 1e-4
    objective_rtol: float = 1e-6
    fit: dict = dataclasses.field(default_factory=dict)


def _params(coef, intercept=None) -> dict:
    coef = np.asarray(coef, dtype=float)
    out = {"coef": coef.reshape(coef.shape[0], -1) if coef.ndim == 2 else coef[:, None]}
    if intercept is not None:
        out["intercept"] = np.atleast_1d(np.asarray(intercept, dtype=float))
    return out


def _sklearn(estimator) -> Callable:
    def reference(X, y):
        est = estimator.fit(X, y)
        coef = est.coef_.T if est.coef_.ndim == 2 else est.coef_
        return _params(coef, est.intercept_ if est.fit_intercept else None)

    return reference


def _lstsq(X, y):
    solution = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y, rcond=None)[0]
    return _params(solution[:-1], solution[-1])


def _huber_numpy(X, y, epsilon=1.35):
    """Minimise the Huber objective written directly in NumPy (SciPy BFGS, gradient tolerance 1e-12)."""

    def objective(theta):
        r = np.abs(y - X @ theta[:-1] - theta[-1])
        loss = np.where(r <= epsilon, 0.5 * r**2, epsilon * (r - 0.5 * epsilon)).mean()
        return loss + 0.5 * ALPHA * theta[:-1] @ theta[:-1]

    theta = scipy.optimize.minimize(
        objective, np.zeros(X.shape[1] + 1), method="BFGS", options={"gtol": 1e-12}
    ).x
    return _params(theta[:-1], theta[-1])


def _multinomial(X, y):
    est = linear_model.LogisticRegression(C=1 / (ALPHA * len(X)), tol=1e-12, max_iter=10_000).fit(X, y)
    # the softmax is invariant to a shift of all intercepts: compare centred intercepts
    return _params(est.coef_.T, est.intercept_ - est.intercept_.mean())


TABLE = [
    Case("ols", models.Linear(), objectives.SquaredError(), "lbfgs", "real", _lstsq),
    Case(
        "ridge",
        models.Linear(),
        objectives.SquaredError() + penalties.L2(ALPHA),
        "lbfgs",
        "real",
        # Ridge: ||r||² + a·||w||² = 2n·(mean(r²/2) + (a/n)/2·||w||²)
        _sklearn(linear_model.Ridge(alpha=ALPHA * 200, solver="cholesky")),
    ),
    Case(
        "logistic",
        models.Linear(),
        objectives.LogLoss() + penalties.L2(ALPHA),
        "lbfgs",
        "binary",
        # C·Σ logloss + ||w||²/2 = C·n·(mean logloss + 1/(C·n)/2·||w||²)
        _sklearn(linear_model.LogisticRegression(C=1 / (ALPHA * 200), tol=1e-12, max_iter=10_000)),
    ),
    Case(
        "multinomial",
        models.Linear(),
        objectives.SoftmaxCrossEntropy() + penalties.L2(ALPHA),
        "lbfgs",
        "multiclass",
        _multinomial,
    ),
    Case(
        "poisson",
        models.Linear(),
        objectives.Poisson() + penalties.L2(ALPHA),
        "lbfgs",
        "count",
        _sklearn(
            linear_model.PoissonRegressor(alpha=ALPHA, tol=1e-12, max_iter=10_000, solver="newton-cholesky")
        ),
    ),
    Case(
        "gamma",
        models.Linear(),
        objectives.Gamma() + penalties.L2(ALPHA),
        "lbfgs",
        "positive",
        _sklearn(
            linear_model.GammaRegressor(alpha=ALPHA, tol=1e-12, max_iter=10_000, solver="newton-cholesky")
        ),
    ),
    Case(
        "tweedie",
        models.Linear(),
        objectives.Tweedie(power=1.5) + penalties.L2(ALPHA),
        "lbfgs",
        "tweedie",
        _sklearn(
            linear_model.TweedieRegressor(
                power=1.5, link="log", alpha=ALPHA, tol=1e-12, max_iter=10_000, solver="newton-cholesky"
            )
        ),
    ),
    Case(
        "lasso",
        models.Linear(),
        objectives.SquaredError() + penalties.L1(0.1),
        "lbfgs",  # an L1 part switches "lbfgs" to FISTA
        "real",
        _sklearn(linear_model.Lasso(alpha=0.1, tol=1e-14, max_iter=100_000)),
    ),
    Case(
        "elastic_net",
        models.Linear(),
        objectives.SquaredError() + penalties.ElasticNet(0.1, l1_ratio=0.7),
        "proximal",
        "real",
        _sklearn(linear_model.ElasticNet(alpha=0.1, l1_ratio=0.7, tol=1e-14, max_iter=100_000)),
    ),
    Case(
        "squared_hinge",
        models.Linear(fit_intercept=False),  # liblinear penalises an intercept: compare without one
        objectives.SquaredHinge() + penalties.L2(ALPHA),
        "lbfgs",
        "sign",
        _sklearn(svm.LinearSVC(C=1 / (ALPHA * 200), fit_intercept=False, tol=1e-12, max_iter=100_000)),
    ),
    Case("huber", models.Linear(), objectives.Huber() + penalties.L2(ALPHA), "lbfgs", "real", _huber_numpy),
    Case(
        # Adam on the nonsmooth L1 still lands exact zeros (orthant step) where Lasso has them; a stochastic
        # method only gets close, hence the looser tolerances
        "lasso_adam",
        models.Linear(),
        objectives.SquaredError() + penalties.L1(0.1),
        optax.adam(optax.exponential_decay(0.05, 100, 0.5)),
        "real",
        _sklearn(linear_model.Lasso(alpha=0.1, tol=1e-14, max_iter=100_000)),
        coef_rtol=2e-3,
        objective_rtol=1e-5,
        fit={"epochs": 1000, "batch_size": 256},
    ),
    Case(
        # the same linear program as scikit-learn's HiGHS, solved to its optimum by the interior point solver
        "quantile_interior_point",
        models.Linear(),
        objectives.Pinball(quantile=0.8) + penalties.L1(ALPHA),
        "interior_point",
        "real",
        _sklearn(linear_model.QuantileRegressor(quantile=0.8, alpha=ALPHA, solver="highs")),
    ),
    Case(
        # the LP optimum is exact; subgradient Adam on the kinked pinball loss converges only to
        # a neighbourhood whose size is set by the final step (decayed to 1e-4): objective within 1e-3
        "quantile_adam",
        models.Linear(),
        objectives.Pinball(quantile=0.8) + penalties.L1(ALPHA),
        optax.adam(optax.exponential_decay(0.05, 200, 0.5)),
        "real",
        _sklearn(linear_model.QuantileRegressor(quantile=0.8, alpha=ALPHA, solver="highs")),
        coef_rtol=np.inf,
        objective_rtol=1e-3,
        fit={"epochs": 2000, "batch_size": 256},
    ),
    Case(
        "mlp_adam",
        models.MLP(hidden=(8,), activation="tanh"),
        objectives.LogLoss() + penalties.L2(1e-4),
        optax_optimizer("adam", learning_rate=1e-2),
        "binary",
        fit={"epochs": 30, "batch_size": 256},
    ),
    Case(
        "fm_sgd",
        models.FactorizationMachine(rank=2),
        objectives.SquaredError() + penalties.L2(1e-3),
        optax.sgd(0.05, momentum=0.9),
        "real",
        fit={"epochs": 30, "batch_size": 256},
    ),
]
# the same one-output linear problems through damped Newton (the estimators' default for few features)
NEWTON = ("ols", "ridge", "logistic", "poisson", "gamma", "tweedie", "squared_hinge", "huber")
TABLE += [dataclasses.replace(c, id=f"{c.id}_newton", optimizer="newton") for c in TABLE if c.id in NEWTON]
REFERENCED = [case for case in TABLE if case.reference is not None]


def _data(case: Case):
    X = features()
    return X, target(case.kind, X)


def _fit(case: Case, X, y, dtype="float64", **kw):
    learner = Learner(
        case.model, case.objective, case.optimizer, dtype=dtype, tol=1e-10, max_iter=1000, verbose=False
    )
    return learner.fit(X, y, **{**case.fit, **kw})


def _centred(params: dict, case: Case) -> dict:
    params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    if isinstance(case.objective, objectives.SoftmaxCrossEntropy) and "intercept" in params:
        params["intercept"] = params["intercept"] - params["intercept"].mean()
    return params


@pytest.mark.parametrize("case", REFERENCED, ids=lambda c: c.id)
def test_converges_to_reference(case: Case):
    X, y = _data(case)
    fitted = _fit(case, X, y)
    ours, ref = _centred(fitted.params, case), case.reference(X, y)
    assert ours.keys() == ref.keys()
    for name in ref:
        scale = np.max(np.abs(ref[name])) or 1.0
        np.testing.assert_array_less(
            np.max(np.abs(ours[name] - ref[name])), case.coef_rtol * scale, err_msg=name
        )
    at_reference = dataclasses.replace(fitted, params=ref).objective_value(X, y)
    at_ours = fitted.objective_value(X, y)
    assert abs(at_ours - at_reference) <= case.objective_rtol * abs(at_reference)
    if case.objective.penalty.l1_strength > 0:
        # exact zeros, in the same places as the reference (the lasso cases have two)
        np.testing.assert_array_equal(ours["coef"] == 0, np.abs(ref["coef"]) < 1e-10)
    if case.optimizer in ("lbfgs", "newton", "proximal"):
        assert fitted.history["converged"]


# float64 reuses the compiled loops of the convergence test; float32 compiles every loop again (seconds each), so
# it runs on one case per (solver, model) family: L-BFGS, FISTA, Optax on an MLP, Optax on a factorization machine
FLOAT32 = {"logistic", "logistic_newton", "lasso", "mlp_adam", "fm_sgd"}
DTYPE_CASES = [(c, "float64") for c in TABLE] + [(c, "float32") for c in TABLE if c.id in FLOAT32]


@pytest.mark.parametrize(("case", "dtype"), DTYPE_CASES, ids=[f"{c.id}-{d}" for c, d in DTYPE_CASES])
def test_dtype_is_preserved(case: Case, dtype: str):
    X, y = _data(case)
    fitted = _fit(case, X.astype(dtype), y, dtype=dtype)
    assert {np.asarray(leaf).dtype for leaf in _leaves(fitted.params)} == {np.dtype(dtype)}
    assert fitted.decision_function(X).dtype == np.dtype(dtype)
    if case.reference is not None and dtype == "float32":  # float32 still lands near the float64 optimum
        ours, ref = _centred(fitted.params, case), case.reference(X, y)
        scale = max(np.max(np.abs(v)) for v in ref.values())
        assert max(np.max(np.abs(ours[k] - ref[k])) for k in ref) <= max(1e-2, case.coef_rtol) * scale


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c.id)
def test_sample_weight_two_equals_duplicating_the_row(case: Case):
    X, y = _data(case)
    twice = np.arange(0, len(X), 10)  # 20 rows: 200 weighted rows and 220 duplicated rows share a row bucket
    weights = np.ones(len(X))
    weights[twice] = 2.0
    full_batch = {"batch_size": 512}  # minibatches would differ by construction; the gradient must not
    weighted = _fit(case, X, y, sample_weight=weights, **full_batch)
    duplicated = _fit(case, np.r_[X, X[twice]], np.r_[y, y[twice]], **full_batch)
    for a, b in zip(_leaves(weighted.params), _leaves(duplicated.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    assert weighted.objective_value(X, y, weights) == pytest.approx(
        duplicated.objective_value(np.r_[X, X[twice]], np.r_[y, y[twice]]), rel=1e-10
    )


@pytest.mark.parametrize("case", [c for c in TABLE if not isinstance(c.optimizer, str)], ids=lambda c: c.id)
def test_seed_makes_fits_reproducible(case: Case):
    X, y = _data(case)
    first, again = _fit(case, X, y, seed=3), _fit(case, X, y, seed=3)
    for a, b in zip(_leaves(first.params), _leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
    if not isinstance(case.model, models.Linear):  # random init: another seed is another fit
        other = _fit(case, X, y, seed=4)
        assert not all(
            np.array_equal(a, b) for a, b in zip(_leaves(first.params), _leaves(other.params), strict=True)
        )


def _leaves(params) -> list[np.ndarray]:
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(params)]
