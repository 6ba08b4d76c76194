"""The zoo as scikit-learn estimators, each a core ``Learner`` inside ``fit``.

Every estimator takes scikit-learn's parameter names where the concept is the same, maps them onto the core's
``mean loss + penalties`` (each class docstring shows how), accepts NumPy, pandas, Polars and PyArrow inputs and
SciPy sparse matrices (all but ``QuantileRegressor``; see ``fieldguide.core.sparse``), and adds
``dtype="float32"`` (``"float64"`` on request), ``verbose=False`` and ``devices=None`` (an integer ``k`` or
``"all"``: train data parallel on that many of JAX's devices, several GPUs say; see ``fieldguide.core.Learner``).
``ZOO`` lists them with the tasks they solve, for ``compare`` and ``search``. Smooth one-output linear models fit
with L-BFGS, or with Newton when a dense X's columns' scales span more than 10x (raw units: L-BFGS would crawl;
Newton does not care), so there is no need to standardise first.

Example:
    >>> import numpy as np
    >>> from fieldguide.models import ZOO, Ridge
    >>> [entry.name for entry in ZOO if "multiclass" in entry.tasks][:2]
    ['LogisticRegression', 'LinearSVC']
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> round(Ridge(alpha=0.1).fit(X, X @ [1.0, 2.0, 3.0]).score(X, X @ [1.0, 2.0, 3.0]), 3)
    1.0
"""

from __future__ import annotations

import dataclasses

from fieldguide.models import adapters
from fieldguide.models._base import ZooClassifier, ZooEstimator, ZooRegressor
from fieldguide.models._linear import (
    ElasticNet,
    GammaRegressor,
    HuberRegressor,
    Lasso,
    LinearRegression,
    LinearSVC,
    LogisticRegression,
    PoissonRegressor,
    QuantileRegressor,
    Ridge,
    TweedieRegressor,
)
from fieldguide.models._neural import (
    FactorizationMachineClassifier,
    FactorizationMachineRegressor,
    MLPClassifier,
    MLPRegressor,
)


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One estimator of the zoo. ``tasks``: subset of ``{"binary", "multiclass", "regression"}``; ``target``:
    what a regression target must be (``"real"``, ``"non-negative"``, ``"positive"``).

    ``space``: a small hyperparameter space as plain data, ``{param: ("log_float"|"float"|"log_int"|"int", low,
    high) or ("categorical", [choices])}``. ``complexity``: rank for the Occam recommendation (0 dummy, 1
    linear/GLM, 2 naive Bayes/QDA/kNN/single trees, 3 factorization machines, 4 MLPs/forests/boosters).
    """

    estimator: type
    tasks: frozenset[str]
    target: str = "real"
    space: dict = dataclasses.field(default_factory=dict, hash=False)
    complexity: int = 1

    @property
    def name(self) -> str:
        return self.estimator.__name__


_CLASSIFY = frozenset({"binary", "multiclass"})
_REGRESS = frozenset({"regression"})

_PENALTY = ("log_float", 1e-4, 1e2)
_MLP = {
    "hidden_layer_sizes": ("categorical", [(64,), (128,), (64, 64)]),
    "alpha": ("log_float", 1e-6, 1e-2),
    "learning_rate_init": ("log_float", 1e-4, 1e-2),
}
_FM = {
    "rank": ("log_int", 2, 32),
    "alpha": ("log_float", 1e-6, 1e-2),
    "learning_rate_init": ("log_float", 1e-3, 1e-1),
}
_TREE = {"max_depth": ("int", 2, 16), "min_samples_leaf": ("log_int", 1, 50)}
_FOREST = {
    "n_estimators": ("log_int", 50, 400),
    "max_features": ("categorical", ["sqrt", "log2", 1.0]),
    "min_samples_leaf": ("log_int", 1, 20),
}
_KNN = {"n_neighbors": ("log_int", 1, 50), "weights": ("categorical", ["uniform", "distance"])}
_LGBM = {
    "n_estimators": ("log_int", 50, 1000),
    "learning_rate": ("log_float", 1e-2, 0.3),
    "num_leaves": ("log_int", 8, 128),
    "min_child_samples": ("log_int", 5, 100),
    "colsample_bytree": ("float", 0.5, 1.0),
    "reg_lambda": ("log_float", 1e-3, 10.0),
}
_XGB = {
    "n_estimators": ("log_int", 50, 1000),
    "learning_rate": ("log_float", 1e-2, 0.3),
    "max_depth": ("int", 2, 10),
    "min_child_weight": ("log_float", 0.1, 10.0),
    "subsample": ("float", 0.5, 1.0),
    "colsample_bytree": ("float", 0.5, 1.0),
    "reg_lambda": ("log_float", 1e-3, 10.0),
}
_XGBOOST = (
    (
        ZooEntry(adapters.XGBClassifier, _CLASSIFY, space=_XGB, complexity=4),
        ZooEntry(adapters.XGBRegressor, _REGRESS, space=_XGB, complexity=4),
    )
    if adapters.XGBOOST_AVAILABLE
    else ()
)

ZOO: tuple[ZooEntry, ...] = (
    ZooEntry(
        LogisticRegression,
        _CLASSIFY,
        space={"C": ("log_float", 1e-3, 1e2), "penalty": ("categorical", ["l2", "l1"])},
    ),
    ZooEntry(LinearSVC, _CLASSIFY, space={"C": ("log_float", 1e-3, 1e2)}),
    ZooEntry(MLPClassifier, _CLASSIFY, space=_MLP, complexity=4),
    ZooEntry(FactorizationMachineClassifier, _CLASSIFY, space=_FM, complexity=3),
    ZooEntry(LinearRegression, _REGRESS),
    ZooEntry(Ridge, _REGRESS, space={"alpha": ("log_float", 1e-3, 1e3)}),
    ZooEntry(Lasso, _REGRESS, space={"alpha": ("log_float", 1e-4, 1e1)}),
    ZooEntry(
        ElasticNet, _REGRESS, space={"alpha": ("log_float", 1e-4, 1e1), "l1_ratio": ("float", 0.05, 0.95)}
    ),
    ZooEntry(
        HuberRegressor, _REGRESS, space={"epsilon": ("float", 1.1, 2.0), "alpha": ("log_float", 1e-6, 1.0)}
    ),
    ZooEntry(QuantileRegressor, _REGRESS, space={"alpha": ("log_float", 1e-4, 1e1)}),
    ZooEntry(PoissonRegressor, _REGRESS, "non-negative", space={"alpha": _PENALTY}),
    ZooEntry(GammaRegressor, _REGRESS, "positive", space={"alpha": _PENALTY}),
    ZooEntry(TweedieRegressor, _REGRESS, space={"alpha": _PENALTY}),
    ZooEntry(MLPRegressor, _REGRESS, space=_MLP, complexity=4),
    ZooEntry(FactorizationMachineRegressor, _REGRESS, space=_FM, complexity=3),
    # adapters: the dummy baselines, scikit-learn's trees, forests, kNN, naive Bayes, QDA, and the boosters
    ZooEntry(adapters.DummyClassifier, _CLASSIFY, complexity=0),
    ZooEntry(adapters.DummyRegressor, _REGRESS, complexity=0),
    ZooEntry(
        adapters.GaussianNB, _CLASSIFY, space={"var_smoothing": ("log_float", 1e-12, 1e-3)}, complexity=2
    ),
    ZooEntry(
        adapters.QuadraticDiscriminantAnalysis,
        _CLASSIFY,
        space={"reg_param": ("float", 0.0, 1.0)},
        complexity=2,
    ),
    ZooEntry(adapters.KNeighborsClassifier, _CLASSIFY, space=_KNN, complexity=2),
    ZooEntry(adapters.KNeighborsRegressor, _REGRESS, space=_KNN, complexity=2),
    ZooEntry(adapters.DecisionTreeClassifier, _CLASSIFY, space=_TREE, complexity=2),
    ZooEntry(adapters.DecisionTreeRegressor, _REGRESS, space=_TREE, complexity=2),
    ZooEntry(adapters.RandomForestClassifier, _CLASSIFY, space=_FOREST, complexity=4),
    ZooEntry(adapters.RandomForestRegressor, _REGRESS, space=_FOREST, complexity=4),
    ZooEntry(adapters.ExtraTreesClassifier, _CLASSIFY, space=_FOREST, complexity=4),
    ZooEntry(adapters.ExtraTreesRegressor, _REGRESS, space=_FOREST, complexity=4),
    ZooEntry(adapters.LGBMClassifier, _CLASSIFY, space=_LGBM, complexity=4),
    ZooEntry(adapters.LGBMRegressor, _REGRESS, space=_LGBM, complexity=4),
    *_XGBOOST,
)

__all__ = [
    "ZOO",
    "ElasticNet",
    "FactorizationMachineClassifier",
    "FactorizationMachineRegressor",
    "GammaRegressor",
    "HuberRegressor",
    "Lasso",
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "MLPClassifier",
    "MLPRegressor",
    "PoissonRegressor",
    "QuantileRegressor",
    "Ridge",
    "TweedieRegressor",
    "ZooClassifier",
    "ZooEntry",
    "ZooEstimator",
    "ZooRegressor",
    "adapters",
]
