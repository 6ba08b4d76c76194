"""Adapters: LightGBM, XGBoost and scikit-learn's trees, forests, kNN, naive Bayes, QDA and dummies in the zoo.

Each adapter is a scikit-learn estimator with the usual ``fit``/``predict``/``predict_proba`` face that
:mod:`fieldguide.io` saves without pickle. The scikit-learn ones *are* the scikit-learn classes (subclasses with
the same constructor and behaviour) plus two hooks: ``__fieldguide_state__()`` returns the learned state as plain
data (arrays, numbers, strings, lists, dicts; names ending in ``_``) and ``__fieldguide_restore__(state)`` sets it
back. Trees are stored as their ``Tree.__getstate__`` arrays (node fields and values), kNN as its training arrays
and column names (refitted on load: the search structure is deterministic), the rest as their fitted arrays. The
boosters wrap LightGBM's and XGBoost's scikit-learn estimators, keep only the trained booster, and store its native
model (LightGBM's model text, XGBoost's JSON model) as a string. XGBoost is an optional extra
(``fieldguide[xgboost]``).

:class:`Ensemble` averages fitted members' probabilities (or predictions) with weights, for ensemble selection.

Example:
    >>> import numpy as np
    >>> from fieldguide.models.adapters import RandomForestClassifier
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, X[:, 0] > 0)
    >>> forest.predict_proba(X[:2]).shape
    (2, 2)
"""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar

import numpy as np
from sklearn import discriminant_analysis, dummy, ensemble, naive_bayes, neighbors, tree
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone, is_classifier
from sklearn.tree._tree import NODE_DTYPE, Tree
from sklearn.utils._tags import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from fieldguide._inputs import numeric, target
from fieldguide.models._native import check_lightgbm, check_sklearn_tree, check_xgboost

XGBOOST_AVAILABLE = importlib.util.find_spec("xgboost") is not None


def _learned(estimator: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The public learned attributes (``name_``) of a fitted scikit-learn estimator."""
    return {
        k: v
        for k, v in vars(estimator).items()
        if k.endswith("_") and not k.startswith("_") and k not in skip
    }


def _n_features(state: dict[str, Any]) -> int:
    n = state.get("n_features_in_")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n_features_in_ must be a positive integer, found {n!r:.40}")
    return int(n)


def _feature_names(names: Any, n_features: int) -> np.ndarray:
    """Saved column names as scikit-learn keeps them (an object array): it checks every DataFrame's columns
    against them, so they must be one string per feature."""
    values = names.tolist() if isinstance(names, np.ndarray) else names
    if (
        not isinstance(values, list)
        or len(values) != n_features
        or not all(isinstance(v, str) for v in values)
    ):
        raise ValueError(
            f"feature_names_in_ must be a list of {n_features} strings (n_features_in_), found {names!r:.80}"
        )
    return np.asarray(values, dtype=object)


def _set_learned(estimator: Any, state: dict[str, Any]) -> None:
    """Set the learned attributes in ``state`` on ``estimator``, a saved ``feature_names_in_`` checked first."""
    if "feature_names_in_" in state:
        state = {**state, "feature_names_in_": _feature_names(state["feature_names_in_"], _n_features(state))}
    for key, value in state.items():
        setattr(estimator, key, value)


class _Savable:
    """Default hooks: the learned attributes are plain data already (naive Bayes, QDA)."""

    def __fieldguide_state__(self) -> dict[str, Any]:
        check_is_fitted(self)
        return _learned(self)

    def __fieldguide_restore__(self, state: dict[str, Any]) -> None:
        _set_learned(self, state)


# -- scikit-learn: trees and forests -------------------------------------------------------------------------


def _tree_state(estimator: Any) -> dict[str, Any]:
    """A fitted decision tree as plain data: its learned attributes and the ``Tree``'s state arrays."""
    fitted = estimator.tree_
    state = fitted.__getstate__()
    nodes = state["nodes"]
    return {
        **_learned(estimator, skip=("tree_",)),
        "tree_": {
            "n_features": int(fitted.n_features),
            "n_classes": np.asarray(fitted.n_classes, dtype=np.int64),
            "n_outputs": int(fitted.n_outputs),
            "max_depth": int(state["max_depth"]),
            "node_count": int(state["node_count"]),
            "nodes": {field: np.ascontiguousarray(nodes[field]) for field in nodes.dtype.names},
            "values": state["values"],
        },
    }


def _restore_tree(estimator: Any, state: dict[str, Any], n_features: int) -> Any:
    """Rebuild a tree whose every split is checked to lead to a leaf over ``n_features`` columns."""
    state = dict(state)
    saved = state.pop("tree_")
    check_sklearn_tree(saved, n_features)
    nodes = np.zeros(saved["node_count"], dtype=NODE_DTYPE)
    for field in NODE_DTYPE.names:
        nodes[field] = saved["nodes"][field]
    fitted = Tree(saved["n_features"], np.asarray(saved["n_classes"], dtype=np.intp), saved["n_outputs"])
    fitted.__setstate__(
        {
            "max_depth": saved["max_depth"],
            "node_count": saved["node_count"],
            "nodes": nodes,
            "values": np.ascontiguousarray(saved["values"], dtype=np.float64),
        }
    )
    _set_learned(estimator, state)
    estimator.tree_ = fitted
    return estimator


class _Tree(_Savable):
    def __fieldguide_state__(self) -> dict[str, Any]:
        check_is_fitted(self)
        return _tree_state(self)

    def __fieldguide_restore__(self, state: dict[str, Any]) -> None:
        _restore_tree(self, state, _n_features(state))


class _Forest(_Savable):
    def __fieldguide_state__(self) -> dict[str, Any]:
        check_is_fitted(self)
        trees = [_tree_state(member) for member in self.estimators_]
        return {**_learned(self, skip=("estimator_", "estimators_")), "estimators_": trees}

    def __fieldguide_restore__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.estimator_ = clone(self.estimator)
        member_params = {name: getattr(self, name) for name in self.estimator_params}
        n_features = _n_features(state)  # what the forest checks its rows against before its trees see them
        self.estimators_ = [
            _restore_tree(clone(self.estimator_).set_params(**member_params), member, n_features)
            for member in state.pop("estimators_")
        ]
        super().__fieldguide_restore__(state)


class DecisionTreeClassifier(_Tree, tree.DecisionTreeClassifier):
    """scikit-learn's ``DecisionTreeClassifier``, savable by ``fieldguide.io``."""


class DecisionTreeRegressor(_Tree, tree.DecisionTreeRegressor):
    """scikit-learn's ``DecisionTreeRegressor``, savable by ``fieldguide.io``."""


class RandomForestClassifier(_Forest, ensemble.RandomForestClassifier):
    """scikit-learn's ``RandomForestClassifier``, savable by ``fieldguide.io``."""


class RandomForestRegressor(_Forest, ensemble.RandomForestRegressor):
    """scikit-learn's ``RandomForestRegressor``, savable by ``fieldguide.io``."""


class ExtraTreesClassifier(_Forest, ensemble.ExtraTreesClassifier):
    """scikit-learn's ``ExtraTreesClassifier``, savable by ``fieldguide.io``."""


class ExtraTreesRegressor(_Forest, ensemble.ExtraTreesRegressor):
    """scikit-learn's ``ExtraTreesRegressor``, savable by ``fieldguide.io``."""


# -- scikit-learn: neighbours, naive Bayes, QDA, dummies -----------------------------------------------------


class _Neighbors(_Savable):
    """kNN is its training data: saved as the arrays and column names, refitted on load (the search tree is
    deterministic). The arrays carry no column names, so those it was fitted with are set back after the refit."""

    def __fieldguide_state__(self) -> dict[str, Any]:
        check_is_fitted(self)
        y = self._y
        if is_classifier(self):
            y = (
                np.column_stack([c[y[:, i]] for i, c in enumerate(self.classes_)])
                if self.outputs_2d_
                else self.classes_[y]
            )
        names = {"feature_names_in_": self.feature_names_in_} if hasattr(self, "feature_names_in_") else {}
        return {**names, "fit_X_": self._fit_X, "fit_y_": y}

    def __fieldguide_restore__(self, state: dict[str, Any]) -> None:
        self.fit(state["fit_X_"], state["fit_y_"])
        if "feature_names_in_" in state:
            self.feature_names_in_ = _feature_names(state["feature_names_in_"], self.n_features_in_)


class KNeighborsClassifier(_Neighbors, neighbors.KNeighborsClassifier):
    """scikit-learn's ``KNeighborsClassifier``, savable by ``fieldguide.io``."""


class KNeighborsRegressor(_Neighbors, neighbors.KNeighborsRegressor):
    """scikit-learn's ``KNeighborsRegressor``, savable by ``fieldguide.io``."""


class GaussianNB(_Savable, naive_bayes.GaussianNB):
    """scikit-learn's ``GaussianNB``, savable by ``fieldguide.io``."""


class QuadraticDiscriminantAnalysis(_Savable, discriminant_analysis.QuadraticDiscriminantAnalysis):
    """scikit-learn's ``QuadraticDiscriminantAnalysis``, savable by ``fieldguide.io``."""


class DummyClassifier(_Savable, dummy.DummyClassifier):
    """scikit-learn's ``DummyClassifier`` (the baseline every comparison includes), savable by ``fieldguide.io``."""

    def __fieldguide_restore__(self, state: dict[str, Any]) -> None:
        super().__fieldguide_restore__(state)
        self._strategy = self.strategy  # what fit sets and predict reads


class DummyRegressor(_Savable, dummy.DummyRegressor):
    """scikit-learn's ``DummyRegressor`` (the baseline every comparison includes), savable by ``fieldguide.io``."""


# -- gradient boosting: LightGBM and XGBoost -----------------------------------------------------------------


class _Boosting(BaseEstimator):
    """Fits the library's scikit-learn estimator with this adapter's parameters and keeps its booster.

    Classifiers fit the library on class ids ``0..k-1`` (XGBoost requires it) and map back through ``classes_``.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _library_estimator(self) -> Any:
        raise NotImplementedError

    def _booster_of(self, fitted: Any) -> Any:
        raise NotImplementedError

    def _raw_predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _check_booster(text: str, n_features: int, n_classes: int) -> None:
        """Refuse a saved model whose indices the library would follow out of its arrays (``models._native``)."""
        raise NotImplementedError

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n, d) and ``y`` (n,), optionally weighting rows by ``sample_weight``."""
        X, y = numeric(
            X,
            type(self).__name__,
            lambda X: validate_data(
                self,
                X,
                target(y),
                dtype=np.float64,
                ensure_all_finite="allow-nan",
                y_numeric=not is_classifier(self),
            ),
        )
        if is_classifier(self):
            check_classification_targets(y)
            self.classes_, y = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs 2 classes in y; found only one class {self.classes_}"
                )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        fitted = self._library_estimator().fit(X, y, sample_weight=sample_weight)
        self.booster_ = self._booster_of(fitted)
        return self

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return numeric(
            X,
            type(self).__name__,
            lambda X: validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan"),
        )

    def __fieldguide_state__(self) -> dict[str, Any]:
        check_is_fitted(self)
        return {**_learned(self, skip=("booster_",)), "booster_": self._booster_text()}

    def __fieldguide_restore__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        text = state.pop("booster_")
        classes = len(state.get("classes_", ())) if is_classifier(self) else 0
        self._check_booster(text, _n_features(state), classes if classes > 2 else 0)
        self.booster_ = self._booster_from_text(text)
        _set_learned(self, state)


def _by_class_id(class_weight: dict, classes: np.ndarray) -> dict[int, float]:
    """A ``class_weight`` dict keyed by label, keyed by class id instead (classes y does not hold are refused)."""
    ids = {label: i for i, label in enumerate(classes.tolist())}
    unknown = [label for label in class_weight if label not in ids]
    if unknown:
        raise ValueError(
            f"class_weight names {unknown!r:.200}, which y does not hold (its classes: {classes.tolist()!r:.200})"
        )
    return {ids[label]: weight for label, weight in class_weight.items()}


class _BoostingClassifier(ClassifierMixin, _Boosting):
    @property
    def n_classes_(self) -> int:
        """The number of classes, ``len(classes_)``, as LightGBM's and XGBoost's own classifiers give it."""
        check_is_fitted(self)
        return len(self.classes_)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, k), columns in the order of ``classes_``."""
        raw = np.asarray(self._raw_predict(self._validated(X)))
        proba = raw.astype(np.float64)
        if proba.ndim == 1:
            return np.column_stack([1.0 - proba, proba])
        # XGBoost's float32 rows sum to 1 ± 1e-7, which scikit-learn's log_loss warns about in float64
        return proba if raw.dtype == np.float64 else proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """The most likely class of each row of ``X``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class _BoostingRegressor(RegressorMixin, _Boosting):
    def predict(self, X) -> np.ndarray:
        """Predicted value for each row of ``X``."""
        return np.asarray(self._raw_predict(self._validated(X)), dtype=np.float64)


class _LightGBM:
    """LightGBM: the booster is kept as ``booster_`` and saved as its native model text."""

    _library_class: ClassVar[str]

    def __init__(
        self,
        *,
        boosting_type="gbdt",
        num_leaves=31,
        max_depth=-1,
        learning_rate=0.1,
        n_estimators=100,
        objective=None,
        class_weight=None,
        min_child_samples=20,
        subsample=1.0,
        subsample_freq=0,
        colsample_bytree=1.0,
        reg_alpha=0.0,
        reg_lambda=0.0,
        random_state=None,
        n_jobs=None,
        verbose=-1,
    ):
        self.boosting_type = boosting_type
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.objective = objective
        self.class_weight = class_weight
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _library_estimator(self):
        import lightgbm

        params = self.get_params()
        if isinstance(self.class_weight, dict):  # keyed by label; LightGBM is fitted on class ids
            params["class_weight"] = _by_class_id(self.class_weight, self.classes_)
        return getattr(lightgbm, self._library_class)(**params)

    @property
    def feature_importances_(self) -> np.ndarray:
        """How many splits use each feature (int32), as LightGBM's own estimators give by default
        (``importance_type="split"``)."""
        check_is_fitted(self)
        return self.booster_.feature_importance(importance_type="split")

    def _booster_of(self, fitted):
        return fitted.booster_

    def _raw_predict(self, X):
        threads = {} if self.n_jobs is None else {"num_threads": self.n_jobs}  # as LightGBM's own predict
        return self.booster_.predict(X, **threads)

    def _booster_text(self) -> str:
        return self.booster_.model_to_string()

    @staticmethod
    def _check_booster(text, n_features, n_classes):
        check_lightgbm(text, n_features, max(n_classes, 1))

    def _booster_from_text(self, text: str):
        import lightgbm

        return lightgbm.Booster(model_str=text)


class LGBMClassifier(_LightGBM, _BoostingClassifier):
    """LightGBM's ``LGBMClassifier`` (its main parameters, same names and defaults), savable by ``fieldguide.io``.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(200, 3))
        >>> LGBMClassifier(n_estimators=10).fit(X, X[:, 0] > 0).score(X, X[:, 0] > 0) > 0.9
        True
    """

    _library_class = "LGBMClassifier"


class LGBMRegressor(_LightGBM, _BoostingRegressor):
    """LightGBM's ``LGBMRegressor`` (its main parameters, same names and defaults), savable by ``fieldguide.io``."""

    _library_class = "LGBMRegressor"


class _XGBoost:
    """XGBoost (optional extra): the booster is kept as ``booster_`` and saved as XGBoost's JSON model.

    Parameters left at ``None`` take XGBoost's defaults.
    """

    _library_class: ClassVar[str]

    def __init__(
        self,
        *,
        n_estimators=None,
        max_depth=None,
        learning_rate=None,
        min_child_weight=None,
        subsample=None,
        colsample_bytree=None,
        reg_alpha=None,
        reg_lambda=None,
        tree_method=None,
        random_state=None,
        n_jobs=None,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.tree_method = tree_method
        self.random_state = random_state
        self.n_jobs = n_jobs

    @staticmethod
    def _xgboost():
        try:
            import xgboost
        except ImportError:
            raise ImportError(
                "XGBoost adapters need the xgboost extra: pip install 'fieldguide[xgboost]'"
            ) from None
        return xgboost

    def _library_estimator(self):
        return getattr(self._xgboost(), self._library_class)(**self.get_params())

    @property
    def feature_importances_(self) -> np.ndarray:
        """Each feature's share of the gain of all splits (float32, summing to 1; zeros if no tree splits), as
        XGBoost's own tree estimators give by default (``importance_type="gain"``)."""
        check_is_fitted(self)
        gain = self.booster_.get_score(importance_type="gain")  # keyed f0, f1, ...: fitted on unnamed arrays
        shares = np.array([gain.get(f"f{i}", 0.0) for i in range(self.n_features_in_)], dtype=np.float32)
        total = shares.sum()
        return shares / total if total else shares

    def _booster_of(self, fitted):
        return fitted.get_booster()

    def _raw_predict(self, X):
        return self.booster_.inplace_predict(X)

    def _booster_text(self) -> str:
        return bytes(self.booster_.save_raw(raw_format="json")).decode("utf-8")

    @staticmethod
    def _check_booster(text, n_features, n_classes):
        check_xgboost(text, n_features, n_classes)

    def _booster_from_text(self, text: str):
        booster = self._xgboost().Booster()
        booster.load_model(bytearray(text.encode("utf-8")))
        if self.n_jobs is not None:
            booster.set_param({"nthread": self.n_jobs})
        return booster


class XGBClassifier(_XGBoost, _BoostingClassifier):
    """XGBoost's ``XGBClassifier`` (its main parameters, same names), savable by ``fieldguide.io``."""

    _library_class = "XGBClassifier"


class XGBRegressor(_XGBoost, _BoostingRegressor):
    """XGBoost's ``XGBRegressor`` (its main parameters, same names), savable by ``fieldguide.io``."""

    _library_class = "XGBRegressor"


# -- ensembles ---------------------------------------------------------------------------------------------------


class Ensemble(BaseEstimator):
    """A weighted average of members: of their probabilities for classifiers, of their predictions for regressors.

    members: unfitted estimators (all classifiers or all regressors); ``fit`` fits a clone of each on the same
        data, as ``members_``. Classifiers must give probabilities.
    weights: one non-negative number per member (ensemble selection's counts, say); ``None`` for equal weights.
        Normalised to sum to 1 as ``weights_``.

    Saved by ``fieldguide.io`` with its members, recursively.

    Example:
        >>> import numpy as np
        >>> from fieldguide.models import LogisticRegression
        >>> X = np.random.default_rng(0).normal(size=(80, 2))
        >>> both = Ensemble([LogisticRegression(), GaussianNB()], weights=[3, 1]).fit(X, X[:, 0] > 0)
        >>> both.predict_proba(X[:1]).shape
        (1, 2)
    """

    def __init__(self, members, weights=None):
        self.members = members
        self.weights = weights

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self.members:
            tags.estimator_type = "classifier" if is_classifier(self.members[0]) else "regressor"
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit a clone of every member on ``X`` and ``y``."""
        members = list(self.members)
        if not members:
            raise ValueError("Ensemble: members must hold at least one estimator")
        kinds = {is_classifier(m) for m in members}
        if len(kinds) > 1:
            raise ValueError("Ensemble: members must be all classifiers or all regressors")
        for member in members:
            if kinds == {True} and not hasattr(member, "predict_proba"):
                raise ValueError(f"Ensemble: {type(member).__name__} gives no probabilities to average")
        weights = (
            np.ones(len(members)) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        )
        if (
            weights.shape != (len(members),)
            or not np.all(np.isfinite(weights))
            or np.any(weights < 0)
            or weights.sum() <= 0
        ):
            raise ValueError(
                f"Ensemble: weights must be {len(members)} non-negative numbers with a positive sum, got {self.weights!r}"
            )
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.members_ = [clone(member).fit(X, y, **fit_params) for member in members]
        self.weights_ = weights / weights.sum()
        self.n_features_in_ = self.members_[0].n_features_in_
        if kinds == {True}:
            self.classes_ = self.members_[0].classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """The weighted average of the members' class probabilities."""
        check_is_fitted(self)
        return sum(w * m.predict_proba(X) for w, m in zip(self.weights_, self.members_, strict=True))

    def predict(self, X) -> np.ndarray:
        """The most likely class of the averaged probabilities, or the weighted average prediction."""
        check_is_fitted(self)
        if hasattr(self, "classes_"):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return sum(
            w * np.asarray(m.predict(X), dtype=np.float64)
            for w, m in zip(self.weights_, self.members_, strict=True)
        )

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for classifiers, R² for regressors (as scikit-learn's mixins)."""
        mixin = ClassifierMixin if hasattr(self, "classes_") else RegressorMixin
        return mixin.score(self, X, y, sample_weight=sample_weight)


SKLEARN_ADAPTERS = (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    KNeighborsClassifier,
    KNeighborsRegressor,
    GaussianNB,
    QuadraticDiscriminantAnalysis,
    DummyClassifier,
    DummyRegressor,
)
# Every class fieldguide.io may rebuild from this module (the XGBoost ones need the extra to load).
SAVABLE = (*SKLEARN_ADAPTERS, LGBMClassifier, LGBMRegressor, XGBClassifier, XGBRegressor, Ensemble)

__all__ = [
    "SAVABLE",
    "SKLEARN_ADAPTERS",
    "XGBOOST_AVAILABLE",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "DummyClassifier",
    "DummyRegressor",
    "Ensemble",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GaussianNB",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "LGBMClassifier",
    "LGBMRegressor",
    "QuadraticDiscriminantAnalysis",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "XGBClassifier",
    "XGBRegressor",
]
