"""The one estimator base: scikit-learn's contract over a core ``Learner``.

An estimator says which model, objective (loss + penalties, rescaled to its scikit-learn convention) and optimizer
it uses; the base validates input, encodes targets, runs the ``Learner``, stores the fitted parameters as NumPy
arrays in ``params_`` (the single source of truth: ``coef_``/``intercept_`` are views of it) and predicts.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import ClassVar

import jax
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from fieldguide._inputs import numeric, target
from fieldguide.core import Learner, models
from fieldguide.core._learner import check_sample_weight, numerics, predict_rows
from fieldguide.core.sparse import is_sparse

_DTYPES = {"float32": np.float32, "float64": np.float64}

# Newton's step costs one n·d² matrix product, three times an L-BFGS step (n·d), but L-BFGS needs hundreds of steps
# when feature scales differ widely, Newton a handful whatever they are. One-output linear models use Newton up to
# NEWTON_MAX_FEATURES features when the columns' standard deviations span more than NEWTON_SCALE_SPREAD.
NEWTON_MAX_FEATURES = 200
NEWTON_SCALE_SPREAD = 10.0


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# What the zoo's shared parameters must be (scikit-learn's constraints where the name is the same), checked when a
# fit starts, so that a bad value is named as the user wrote it, not as the core's rescaled penalty sees it.
_FLAGS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping")
_PARAMETER_RULES = {
    "alpha": ("a number >= 0", lambda v: _real(v) and v >= 0),
    "C": (
        "a number > 0 (np.inf for no penalty)",
        lambda v: (_real(v) and v > 0) or (isinstance(v, float) and v == math.inf),
    ),
    "l1_ratio": ("a number in [0, 1]", lambda v: v is None or (_real(v) and 0 <= v <= 1)),
    "epsilon": ("a number >= 1", lambda v: _real(v) and v >= 1),
    "quantile": ("a number in (0, 1)", lambda v: _real(v) and 0 < v < 1),
    "tol": ("a number >= 0", lambda v: _real(v) and v >= 0),
    "max_iter": ("an integer >= 1", lambda v: _whole(v) and v >= 1),
    "max_fun": ("an integer >= 1", lambda v: _whole(v) and v >= 1),
    "learning_rate_init": ("a number > 0", lambda v: _real(v) and v > 0),
    "rank": ("an integer >= 1", lambda v: _whole(v) and v >= 1),
    "validation_fraction": ("a number in [0, 1)", lambda v: _real(v) and 0 <= v < 1),
    "n_iter_no_change": ("an integer >= 1", lambda v: _whole(v) and v >= 1),
    "solver": ("'adam', 'sgd' or 'lbfgs'", lambda v: v in ("adam", "sgd", "lbfgs")),
    "learning_rate": (
        "'constant', 'invscaling' or 'adaptive'",
        lambda v: v in ("constant", "invscaling", "adaptive"),
    ),
    "power_t": ("a number >= 0", lambda v: _real(v) and v >= 0),
    "momentum": ("a number in [0, 1]", lambda v: _real(v) and 0 <= v <= 1),
    "beta_1": ("a number in [0, 1)", lambda v: _real(v) and 0 <= v < 1),
    "beta_2": ("a number in [0, 1)", lambda v: _real(v) and 0 <= v < 1),
    **{flag: ("True or False", lambda v: isinstance(v, bool | np.bool_)) for flag in _FLAGS},
    # JSON-able values only, so that a saved estimator keeps them (the core also takes jax.Device sequences)
    "devices": (
        "None, an integer >= 1 or 'all'",
        lambda v: v is None or v == "all" or (_whole(v) and v >= 1),
    ),
}


def scale_spread(X: np.ndarray, rows: int = 1024) -> float:
    """Largest over smallest standard deviation of the non-constant columns of ``X``, on about ``rows`` evenly
    spaced rows (as many as the solvers' preconditioner reads: more took ~1.5 ms of a warm 200k-row fit)."""
    sample = X[:: max(1, X.shape[0] // rows)]
    # X is not yet checked finite here (staging refuses NaN and inf just after): no warnings before that error
    with np.errstate(invalid="ignore", over="ignore"):
        std = sample.std(axis=0)
    std = std[std > 0]
    return float(std.max() / std.min()) if std.size else 1.0


@functools.partial(jax.jit, static_argnums=(0, 1))
def _predict(model, objective, params, X):
    raw = model.apply(params, X)
    return raw if objective is None else objective.link(raw)


def encode_classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, ids)`` as ``np.unique(y, return_inverse=True)`` gives them, ids as int32.

    Integer labels over a small range are counted (one pass, ~1 ms for 200k labels, where sorting takes 4 ms and
    scikit-learn's target-type check another 2); other labels go through scikit-learn's check, which refuses
    continuous targets, and a sort.
    """
    if y.dtype.kind in "iu" and y.size:
        low, high = int(y.min()), int(y.max())
        if high - low <= 4 * y.size and high <= np.iinfo(np.intp).max:
            offsets = y.astype(np.intp) - low
            present = np.flatnonzero(np.bincount(offsets, minlength=high - low + 1))
            lookup = np.zeros(high - low + 1, np.int32)
            lookup[present] = np.arange(present.size, dtype=np.int32)
            return (present + low).astype(y.dtype), lookup[offsets]
    check_classification_targets(y)
    classes, ids = np.unique(y, return_inverse=True)
    return classes, ids.astype(np.int32)


class ZooEstimator(BaseEstimator):
    """Base of every fieldguide estimator. Subclasses implement ``_loss`` (and ``_penalty`` when they have one)
    and may override the other hooks; ``__init__`` only stores parameters, as scikit-learn requires."""

    # "linear" models expose coef_/intercept_ in scikit-learn's layout
    _linear: ClassVar[bool] = True
    # the dtype a fit computes in where ``dtype`` is too coarse for its solver (the parameters stay ``dtype``)
    _fit_dtype: ClassVar[str | None] = None
    # parameter rules of this class where a name means something else than in _PARAMETER_RULES
    _rules: ClassVar[dict] = {}
    # whether X may be a SciPy sparse matrix (staged as the core's SparseRows; see fieldguide.core.sparse)
    _sparse: ClassVar[bool] = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self._sparse
        return tags

    # -- hooks -------------------------------------------------------------------------------------------------
    def _model(self):
        return models.Linear(fit_intercept=self.fit_intercept)

    def _loss(self, n_classes: int | None):
        """The core objective without penalties (its link turns raw outputs into predictions)."""
        raise NotImplementedError

    def _penalty(self, weight_sum: float, n_rows: int):
        """The core penalty for training rows whose sample weights sum to ``weight_sum``; None for none."""
        return None

    def _objective(self, weight_sum: float, n_classes: int | None, n_rows: int):
        penalty = self._penalty(weight_sum, n_rows)
        loss = self._loss(n_classes)
        return loss if penalty is None else loss + penalty

    def _optimizer(self):
        return "lbfgs"

    def _solver(self, X: np.ndarray, n_classes: int | None) -> str:
        """``_optimizer()``, with L-BFGS upgraded to Newton for a one-output linear model of few features whose
        scales differ widely (see ``NEWTON_SCALE_SPREAD``)."""
        optimizer = self._optimizer()
        one_output = n_classes is None or n_classes == 2
        linear = type(self._model()) is models.Linear
        dense = not is_sparse(X)  # Newton forms X^T D X from a dense X
        if optimizer == "lbfgs" and linear and one_output and dense and X.shape[1] <= NEWTON_MAX_FEATURES:
            return "newton" if scale_spread(X) > NEWTON_SCALE_SPREAD else optimizer
        return optimizer

    def _fit_options(self, n_rows: int) -> dict:
        return {}

    def _has_stopping_test(self) -> bool:
        """Whether the fit stops on a tolerance (so that running out of ``max_iter`` means it had not converged)."""
        return True

    def _warn_unless_converged(self) -> None:
        """scikit-learn's ``ConvergenceWarning`` when the fit ran out of ``max_iter``, or stalled, before its
        stopping test."""
        if self.converged_ or not self._has_stopping_test():
            return
        unit = "iterations" if isinstance(self._optimizer(), str) else "epochs"
        max_fun, n_fun = getattr(self, "max_fun", None), getattr(self, "_n_fun", None)
        if max_fun is not None and n_fun is not None and n_fun >= max_fun:
            message = (
                f"{type(self).__name__} did not converge within max_fun={max_fun} evaluations of the loss "
                f"({self.n_iter_} {unit}, tol={self.tol}): its parameters may be far from the minimum; raise max_fun"
            )
        elif self.n_iter_ < self.max_iter:  # the solver stalled: more iterations would not help
            message = (
                f"{type(self).__name__} stopped after {self.n_iter_} of max_iter={self.max_iter} {unit}, unable to "
                f"make progress in {self._fit_dtype or self.dtype} before its stopping test (tol={self.tol}); "
                "its parameters may be short of the minimum: raise tol, or fit in dtype='float64'"
            )
        else:
            message = (
                f"{type(self).__name__} did not converge within max_iter={self.max_iter} {unit} (tol={self.tol}): "
                "its parameters may be far from the minimum; raise max_iter"
            )
        warnings.warn(message, ConvergenceWarning, stacklevel=3)

    def __fieldguide_restore__(self, state: dict) -> None:
        """Learned attributes read back by ``fieldguide.io``: ``params_`` must have the arrays, shapes and dtype
        this estimator's model gives ``n_features_in_`` features, or the file is refused before any prediction."""
        for key, value in state.items():
            setattr(self, key, value)
        dtype, params = np.dtype(self._check_dtype()), self.params_
        for n_outputs in {1, len(getattr(self, "classes_", ()))} - {0}:
            init = functools.partial(self._model().init, n_features=self.n_features_in_, n_outputs=n_outputs)
            shapes = jax.eval_shape(init, jax.random.key(0))
            if jax.tree.structure(params) != jax.tree.structure(shapes):
                continue
            # earlier bundles hold a 0-d array (Huber's log_scale) as shape (1,): read them as they were written
            params = jax.tree.map(
                lambda a, s: np.reshape(a, ()) if s.shape == () and np.size(a) == 1 else a, params, shapes
            )
            if all(
                np.shape(a) == s.shape and np.asarray(a).dtype == dtype
                for a, s in zip(jax.tree.leaves(params), jax.tree.leaves(shapes), strict=True)
            ):
                self.params_ = params
                return
        found = jax.tree.map(lambda a: f"{np.asarray(a).dtype}{list(np.shape(a))}", params)
        raise ValueError(
            f"params_ should be {dtype} arrays shaped as {type(self._model()).__name__}'s for "
            f"{self.n_features_in_} features, found {found!s:.200}"
        )

    # -- scikit-learn contract ---------------------------------------------------------------------------------
    def _check_dtype(self):
        if self.dtype not in _DTYPES:
            raise ValueError(
                f"{type(self).__name__}: dtype must be 'float32' or 'float64', got {self.dtype!r}"
            )
        return _DTYPES[self.dtype]

    def _validate_X(self, X):
        """``X`` checked against the fit (features, names), left in its numeric dtype: it is cast to ``dtype`` and
        checked finite when it is staged for the device (``stage_rows``), in one pass. A NumPy array of numbers with
        the fit's features, for an estimator fitted without column names, is one scikit-learn's ``validate_data``
        would return as it is: it is not checked again (100 of a 1-row prediction's 260 µs)."""
        check_is_fitted(self)
        self._check_dtype()
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype.kind in "biuf"
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        ):
            return X
        return numeric(
            X,
            type(self).__name__,
            lambda X: validate_data(
                self, X, reset=False, dtype="numeric", ensure_all_finite=False, accept_sparse=self._accepts()
            ),
        )

    def _check_params(self) -> None:
        rules = _PARAMETER_RULES | self._rules
        for name, value in self.get_params(deep=False).items():
            expected, valid = rules.get(name, (None, None))
            if valid is not None and not valid(value):
                raise ValueError(f"{type(self).__name__}: {name} must be {expected}, got {value!r}")

    def _validate_fit(self, X, y, **kw):
        """``(X, y)`` checked for a fit; like :meth:`_validate_X`, ``X`` keeps its numeric dtype and the core casts
        it and checks it finite in one pass."""
        self._check_params()
        self._check_dtype()
        return numeric(
            X,
            type(self).__name__,
            lambda X: validate_data(
                self,
                X,
                target(y),
                dtype="numeric",
                ensure_all_finite=False,
                accept_sparse=self._accepts(),
                **kw,
            ),
        )

    def _accepts(self) -> str | bool:
        return "csr" if self._sparse else False

    def _learner(self, X: np.ndarray, weight_sum: float, n_classes: int | None):
        return Learner(
            self._model(),
            self._objective(weight_sum, n_classes, X.shape[0]),
            optimizer=self._solver(X, n_classes),
            dtype=self._fit_dtype or self.dtype,
            tol=self.tol,
            max_iter=self.max_iter,
            max_fun=getattr(self, "max_fun", None),  # the MLPs' L-BFGS
            verbose=self.verbose,
            devices=self.devices,
        )

    def _fit_encoded(self, X, y, sample_weight, n_classes: int | None):
        dtype = _DTYPES[self._fit_dtype] if self._fit_dtype else self._check_dtype()
        sample_weight = check_sample_weight(
            _check_sample_weight(sample_weight, X, dtype=dtype), X.shape[0], dtype
        )
        learner = self._learner(X, float(sample_weight.sum()), n_classes)
        fitted = learner.fit(X, y, sample_weight=sample_weight, **self._fit_options(X.shape[0]))
        self.params_ = jax.tree.map(np.asarray, fitted.params)
        history = fitted.history
        self.n_iter_ = int(history["n_iter"])
        self.converged_ = bool(history.get("converged", True))
        self._n_fun = history.get("n_fun")  # L-BFGS's evaluations, for the warning when max_fun stopped it
        self._fit_params = self.get_params(deep=False)
        return fitted

    def _as_fitted(self) -> ZooEstimator:
        """This estimator with the parameters it was fitted with: predictions follow the fit, not ``set_params``
        calls made since (a refit applies them), as scikit-learn's fitted ``intercept_`` and loss do."""
        # absent after io.load: the bundle's parameters are the fit's
        fitted = getattr(self, "_fit_params", None)
        if fitted is None:
            return self
        try:  # the fit's parameter names, read without get_params' signature lookup (most of a 1-row predict)
            unchanged = bool({name: getattr(self, name) for name in fitted} == fitted)
        except ValueError:  # an array-valued parameter
            unchanged = False
        return self if unchanged else type(self)(**fitted)

    def _outputs(self, X, linked: bool = False, n_classes: int | None = None) -> np.ndarray:
        """Model outputs (n, k), through the objective's link (for ``n_classes``) when ``linked``; staged as the
        core's predictions are (:func:`~fieldguide.core._learner.predict_rows`: padded to a row bucket, a large X
        in parts)."""
        X = self._validate_X(X)
        fitted = self._as_fitted()
        model, objective = fitted._model(), fitted._loss(n_classes) if linked else None
        with numerics(fitted.dtype):
            # NumPy parameters go to the device with the call's arguments: jax.device_put of the tree took 150 µs,
            # and jnp.asarray compiles a copy per parameter shape on a first prediction
            return predict_rows(
                X, fitted.dtype, lambda staged: _predict(model, objective, self.params_, staged)
            )

    def _raw(self, X) -> np.ndarray:
        """Model outputs of shape (n, k) before the link."""
        return self._outputs(X)

    def _linked(self, X, n_classes: int | None) -> np.ndarray:
        """Predictions through the objective's link (means, or probabilities)."""
        return self._outputs(X, linked=True, n_classes=n_classes)

    # scikit-learn's layout of the linear weights: coef_ (k, d) for classifiers, (d,) for a regressor
    @property
    def coef_(self) -> np.ndarray:
        check_is_fitted(self)
        if not self._linear:
            raise AttributeError(f"{type(self).__name__} has no coef_")
        coef = self.params_["coef"].T
        return coef if isinstance(self, ClassifierMixin) else coef[0]

    @property
    def intercept_(self) -> np.ndarray | float:
        check_is_fitted(self)
        if not self._linear:
            raise AttributeError(f"{type(self).__name__} has no intercept_")
        coef = self.params_["coef"]
        intercept = self.params_.get("intercept", np.zeros(coef.shape[1], coef.dtype))
        return intercept if isinstance(self, ClassifierMixin) else float(intercept[0])


class ZooRegressor(RegressorMixin, ZooEstimator):
    """A regressor: one output, the objective's link gives the prediction."""

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n, d) and ``y`` (n,), optionally weighting rows by ``sample_weight``."""
        X, y = self._validate_fit(X, y, y_numeric=True)
        self._fit_target(X, y, sample_weight)
        self._warn_unless_converged()
        return self

    def _fit_target(self, X, y, sample_weight) -> None:
        """The fit itself, on the checked ``y`` (a hook for regressors that standardise it first)."""
        self._fit_encoded(X, y.astype(self._fit_dtype or self._check_dtype()), sample_weight, None)

    def predict(self, X) -> np.ndarray:
        """Predicted mean of y for each row of ``X``."""
        return self._linked(X, None).reshape(-1)


def _class_weights(class_weight, classes, y, ids, sample_weight) -> np.ndarray:
    """Each class's weight, as scikit-learn 1.6 on computes it: from a dict by label, or ``"balanced"``:
    ``W / (k·W_c)`` where ``W_c`` is the class's total sample weight."""
    if isinstance(class_weight, str) and class_weight == "balanced":
        totals = np.bincount(ids, weights=sample_weight, minlength=len(classes))
        return totals.sum() / (len(classes) * totals)
    return compute_class_weight(class_weight, classes=classes, y=y)


class ZooClassifier(ClassifierMixin, ZooEstimator):
    """A classifier: classes encoded as ids 0..k-1; one output for two classes, k outputs for more."""

    # whether the objective gives probabilities (LinearSVC's squared hinge does not)
    _probabilistic: ClassVar[bool] = True

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n, d) and class labels ``y`` (n,), optionally weighting rows by ``sample_weight``."""
        X, y = self._validate_fit(X, y)
        self.classes_, ids = encode_classes(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y; found 1 class: {self.classes_[0]!r}"
            )
        weights = getattr(self, "class_weight", None)
        if weights is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            weights = _class_weights(weights, self.classes_, np.asarray(y), ids, sample_weight)
        self._fit_classes(X, ids, sample_weight, weights)
        self._warn_unless_converged()
        return self

    def _fit_classes(self, X, ids, sample_weight, class_weight: np.ndarray | None) -> None:
        """The fit on class ids ``0..k-1``, each row weighted by its sample weight (an array when there are class
        weights) times its class's weight."""
        if class_weight is not None:
            sample_weight = class_weight[ids] * sample_weight
        self._fit_encoded(X, ids, sample_weight, len(self.classes_))

    def decision_function(self, X) -> np.ndarray:
        """Raw scores: shape (n,) for two classes (positive means ``classes_[1]``), (n, k) for more."""
        raw = self._raw(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    @available_if(lambda self: self._probabilistic)
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, k), columns in the order of ``classes_``."""
        check_is_fitted(self)
        proba = self._linked(X, len(self.classes_)).astype(np.float64)
        if proba.ndim == 1:
            return np.column_stack([1.0 - proba, proba])
        # a float32 softmax's rows sum to 1 ± 1e-7, which scikit-learn's log_loss warns about in float64
        return proba / proba.sum(axis=1, keepdims=True)

    @available_if(lambda self: self._probabilistic)
    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most likely class of each row of ``X``."""
        raw = self._raw(X)
        ids = (raw[:, 0] > 0).astype(int) if raw.shape[1] == 1 else raw.argmax(axis=1)
        return self.classes_[ids]
