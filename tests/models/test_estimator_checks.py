"""scikit-learn's own estimator suite over every estimator of the zoo (small max_iter keeps it affordable).

Marked slow: ~60 checks per estimator, each fitting on new shapes and penalty strengths, and the core compiles
one loop per (shape bucket, penalty strength); the persistent compilation cache makes reruns much faster.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from fieldguide import models

pytestmark = pytest.mark.slow

# The convex models run in float64 with a tight tol: scikit-learn's sample-weight equivalence check compares
# predictions to rtol=1e-7, beyond float32's resolution. The stochastic ones are small and short.
TIGHT = {"dtype": "float64", "tol": 1e-10}
ESTIMATORS = [
    models.LinearRegression(**TIGHT),
    models.Ridge(**TIGHT),
    models.Lasso(alpha=0.01, **TIGHT),
    models.ElasticNet(alpha=0.01, **TIGHT),
    models.HuberRegressor(**TIGHT),
    models.QuantileRegressor(alpha=0.01, max_iter=200, dtype="float64"),
    models.PoissonRegressor(**TIGHT),
    models.GammaRegressor(**TIGHT),
    models.TweedieRegressor(power=1.5, **TIGHT),
    models.LogisticRegression(**TIGHT),
    models.LinearSVC(**TIGHT),
    models.MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=1e-2, random_state=0),
    models.MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=1e-2, random_state=0),
    # full batch, so no minibatch xfail; float64, since in float32 the weighted and the repeated rows' sums round
    # differently and L-BFGS can follow that into another local minimum of this non-convex loss
    models.MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0, dtype="float64"),
    models.FactorizationMachineClassifier(rank=2, max_iter=50, random_state=0),
    models.FactorizationMachineRegressor(rank=2, max_iter=50, random_state=0),
]
OWN = {entry.estimator for entry in models.ZOO if issubclass(entry.estimator, models.ZooEstimator)}
assert {type(e) for e in ESTIMATORS} == OWN  # every fieldguide estimator (the adapters are tested apart)

# scikit-learn runs its sample-weight equivalence check on dense data and again on sparse data: the same fits
_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)
_MINIBATCH = dict.fromkeys(
    _WEIGHT_CHECKS,
    "minibatch Adam: a row of weight 2 and the same row twice land in different batches, so the two fits follow "
    "different, equally valid paths",
)
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    **{
        name: _MINIBATCH
        for name in (
            "MLPClassifier",
            "FactorizationMachineClassifier",
            "FactorizationMachineRegressor",
        )
    },
    "MLPRegressor": {
        **_MINIBATCH,
        "check_methods_sample_order_invariance": (
            "float32 (the default): permuting rows changes XLA's summation order inside the hidden layers, so "
            "a prediction can move by one ulp (1.2e-7 relative), just above the check's rtol of 1e-7"
        ),
    },
    "HuberRegressor": dict.fromkeys(
        _WEIGHT_CHECKS,
        "the check's data is fitted almost exactly, so the optimal scale σ tends to 0, a boundary that the log σ "
        "parametrisation approaches without reaching: both fits stop ~1e-6 apart, not 1e-7",
    ),
}


def _expected_failures(estimator) -> dict[str, str]:
    if getattr(estimator, "solver", None) == "lbfgs":
        return {}
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_contract(estimator, check):
    check(estimator)
