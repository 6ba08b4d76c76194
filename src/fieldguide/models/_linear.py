"""Generalized linear models and the linear SVM, each mapped onto the core's ``mean loss + penalties``.

The core minimises ``Σ w·l / W + penalties`` with ``W = Σ w`` (the sample weights, n when unweighted),
``L2(a) = a/2·||w||²``, ``L1(a) = a·||w||₁``, and half losses (half squared error, half deviances) as in
scikit-learn's ``sklearn._loss``. Each class docstring shows its scikit-learn objective and the rescaling that makes
the two minimisers identical. Intercepts are never penalised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from sklearn.utils.validation import _check_sample_weight

from fieldguide.core import models, objectives, penalties
from fieldguide.core._learner import check_sample_weight
from fieldguide.models._base import ZooClassifier, ZooRegressor


class _StandardisedTarget(ZooRegressor):
    """A linear regressor whose objective is equivariant in y's location and scale: it fits
    ``y' = (y - centre)/unit`` and maps the solution back, so a target of 1e8 ± 30 trains as a unit one does (in
    float32, y itself would keep 8 units of resolution there, and the solvers' first steps would chase its offset).

    With ``y = centre + unit·y'`` the solution is ``β = unit·β'``, ``b = centre + unit·b'`` (σ = unit·σ'); for a
    loss homogeneous of degree ``m`` in the residual (``_loss_degree``: 2 for squared error, 1 for Huber and
    pinball) the objective is ``unit^m·(loss' + unit^(k-m)·penalty(β'))`` with ``k`` the penalty's degree (2 for
    L2, 1 for L1), which is how :meth:`_objective` rescales the penalties during the fit.
    """

    _loss_degree: ClassVar[int] = 2
    _y_unit: float = 1.0  # the target's unit during a fit

    def _target_map(self, y: np.ndarray, weight: np.ndarray) -> tuple[float, float] | None:
        """``(centre, unit)``: y's weighted mean (0 without an intercept) and its root mean square about it."""
        centre = float(np.average(y, weights=weight)) if self.fit_intercept else 0.0
        return centre, float(np.sqrt(np.average((y - centre) ** 2, weights=weight)))

    def _objective(self, weight_sum, n_classes, n_rows):
        objective = super()._objective(weight_sum, n_classes, n_rows)
        unit, degree, penalty = self._y_unit, self._loss_degree, objective.penalty
        if unit == 1.0:
            return objective
        terms = (penalties.L1(penalty.l1_strength * unit ** (1 - degree)),) if penalty.l1_strength else ()
        terms += (penalties.L2(penalty.l2_strength * unit ** (2 - degree)),) if penalty.l2_strength else ()
        return dataclasses.replace(objective, penalty=penalties.Penalties(terms))

    def _fit_target(self, X, y, sample_weight) -> None:
        weight = check_sample_weight(
            _check_sample_weight(sample_weight, X, dtype=np.float64), len(y), "float64"
        )
        y = np.asarray(y, np.float64)
        found = self._target_map(y, weight)
        if found is None:
            return super()._fit_target(X, y, sample_weight)
        centre, unit = found
        if not (np.isfinite(unit) and unit > 0):  # a constant y, or one whose spread overflows
            unit = float(np.max(np.abs(y - centre), initial=0.0)) or 1.0
        dtype = np.dtype(self._check_dtype())
        if (step := abs(centre) * np.finfo(dtype).eps) > 1e-3 * unit:
            warnings.warn(
                f"{type(self).__name__}: y is centred at {centre:.6g} with a spread of {unit:.3g}; {dtype} resolves "
                f"predictions near it only to steps of {step:.3g} ({step / unit:.1%} of that spread): pass "
                "dtype='float64'",
                UserWarning,
                stacklevel=4,
            )
        self._y_unit = unit
        try:
            super()._fit_target(X, (y - centre) / unit, sample_weight)
        finally:
            del self._y_unit
        params = dict(self.params_)
        params["coef"] = params["coef"] * unit
        if "intercept" in params:
            params["intercept"] = centre + unit * params["intercept"]
        if "log_scale" in params:
            params["log_scale"] = params["log_scale"] + np.log(unit)
        self.params_ = {key: np.asarray(value, self._check_dtype()) for key, value in params.items()}


class _RobustTarget(_StandardisedTarget):
    """Standardised by the weighted median and median absolute deviation, for losses of degree 1."""

    _loss_degree = 1

    def _target_map(self, y, weight):
        centre = _weighted_median(y, weight) if self.fit_intercept else 0.0
        return centre, _weighted_median(np.abs(y - centre), weight)


def _weighted_median(values: np.ndarray, weight: np.ndarray) -> float:
    """The lower weighted median of ``values`` (NaN when no weight is positive)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weight[order])
    if not cumulative.size or cumulative[-1] <= 0:
        return float("nan")
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


class LinearRegression(_StandardisedTarget):
    """Ordinary least squares: minimises ``Σ w·(y - Xβ - b)²``, i.e. the core's half squared error, no penalty.

    Example:
        >>> import numpy as np
        >>> from fieldguide.models import LinearRegression
        >>> X = np.arange(8.0).reshape(4, 2)
        >>> LinearRegression().fit(X, X @ [1.0, 2.0] + 3).predict(X[:1]).round(3).tolist()
        [5.0]
    """

    def __init__(
        self, *, fit_intercept=True, tol=1e-6, max_iter=1000, dtype="float32", verbose=False, devices=None
    ):
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.SquaredError()


class Ridge(_StandardisedTarget):
    """Ridge regression, as scikit-learn's ``Ridge``: minimises ``Σ w·(y - Xβ - b)² + alpha·||β||²``.

    Divided by ``2W``: ``mean(½r²) + (alpha/W)/2·||β||²``, so the core sees ``SquaredError() + L2(alpha/W)``.

    Example:
        >>> import numpy as np
        >>> from fieldguide.models import Ridge
        >>> X = np.random.default_rng(0).normal(size=(50, 3))
        >>> Ridge(alpha=1.0).fit(X, X @ [1.0, 0.0, -1.0]).coef_.shape
        (3,)
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.SquaredError()

    def _penalty(self, weight_sum, n_rows):
        return penalties.L2(self.alpha / weight_sum)


class Lasso(_StandardisedTarget):
    """The lasso, as scikit-learn's ``Lasso``: minimises ``Σ w·r²/(2W) + alpha·||β||₁``.

    That is already the core's ``SquaredError() + L1(alpha)``; fitted by proximal gradient, so zeros are exact.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.SquaredError()

    def _penalty(self, weight_sum, n_rows):
        return penalties.L1(self.alpha)

    def _optimizer(self):
        return "proximal"


class ElasticNet(_StandardisedTarget):
    """Elastic net, as scikit-learn's ``ElasticNet``:
    ``Σ w·r²/(2W) + alpha·l1_ratio·||β||₁ + alpha·(1 - l1_ratio)/2·||β||²``, the core's
    ``SquaredError() + ElasticNet(alpha, l1_ratio)`` unchanged.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.SquaredError()

    def _penalty(self, weight_sum, n_rows):
        return penalties.ElasticNet(self.alpha, self.l1_ratio)

    def _optimizer(self):
        return "proximal"


class HuberRegressor(_RobustTarget):
    """Robust regression, as scikit-learn's ``HuberRegressor``, with the scale σ learned jointly:
    minimises ``Σ w·(σ + σ·H_ε(r/σ)) + alpha·||β||²`` where ``H_ε(z) = z²`` for ``|z| <= ε``, else ``2ε|z| - ε²``.

    Divided by ``W``: ``mean(σ + σ·H) + (2·alpha/W)/2·||β||²``, i.e. ``L2(2·alpha/W)``. σ = exp(log_scale) is a
    parameter of the model (unpenalised); ``scale_`` exposes it.
    """

    def __init__(
        self,
        *,
        epsilon=1.35,
        alpha=1e-4,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.epsilon = epsilon
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _model(self):
        return _ScaledLinear(fit_intercept=self.fit_intercept)

    def _loss(self, n_classes):
        return _ConcomitantHuber(epsilon=float(self.epsilon))

    def _penalty(self, weight_sum, n_rows):
        return penalties.L2(2.0 * self.alpha / weight_sum)

    def _fit_target(self, X, y, sample_weight) -> None:
        super()._fit_target(X, y, sample_weight)
        # scikit-learn's outliers_: the rows whose residual lies beyond epsilon·σ, in the linear part of the loss
        residual = np.asarray(y, np.float64) - (X.astype(np.float64) @ self.coef_ + self.intercept_)
        self.outliers_ = np.abs(residual) > self.epsilon * self.scale_

    @property
    def scale_(self) -> float:
        return float(np.exp(self.params_["log_scale"]))


class QuantileRegressor(_RobustTarget):
    """Quantile regression, as scikit-learn's ``QuantileRegressor``: ``Σ w·pinball_q(r)/W + alpha·||β||₁``.

    That is the core's ``Pinball(quantile) + L1(alpha)`` unchanged, a linear program: it is solved exactly, as
    scikit-learn's HiGHS solver does, by the core's ``"interior_point"`` solver, which stops when the duality gap is
    within ``tol`` of the objective (tens of iterations, each one pass over X and a d×d solve).

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(500, 2))
        >>> y = X @ [1.0, -2.0] + np.random.default_rng(1).standard_t(3, size=500)
        >>> model = QuantileRegressor(quantile=0.9, alpha=0.0).fit(X, y)
        >>> bool(abs(np.mean(y <= model.predict(X)) - 0.9) < 0.01)
        True
    """

    # Adam's step size, from before the interior point solver: bundles that hold it still load (fieldguide.io)
    _retired_params = ("learning_rate_init",)
    # the interior point's d×d solves lose a column like a year to rounding in float32 (without an intercept to
    # centre on) and its iterates drift off the LP's equality: float32 fits stopped 2-30% above the optimum
    _fit_dtype = "float64"
    # the interior point forms X^T Θ X from a dense X
    _sparse = False

    def __init__(
        self,
        *,
        quantile=0.5,
        alpha=1.0,
        fit_intercept=True,
        tol=1e-6,
        max_iter=200,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.quantile = quantile
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.Pinball(self.quantile)

    def _penalty(self, weight_sum, n_rows):
        return penalties.L1(self.alpha)

    def _optimizer(self):
        return "interior_point"


class LogisticRegression(ZooClassifier):
    """Logistic regression, binary or multinomial, as scikit-learn's: ``C·Σ w·logloss + penalty(β)`` with the
    penalty ``l1_ratio·||β||₁ + (1 - l1_ratio)/2·||β||²`` (scikit-learn 1.8 on: ``l1_ratio=0`` is L2, 1 is L1,
    ``C=np.inf`` no penalty), or, as earlier scikit-learn, named by ``penalty``: ``"l2"``, ``"l1"``,
    ``"elasticnet"`` (mixed by ``l1_ratio``) or ``None``.

    Divided by ``C·W``: ``mean(logloss) + penalty/(C·W)``, i.e. ``L2``/``L1``/``ElasticNet`` with
    ``alpha = 1/(C·W)``. Two classes use one logit (``LogLoss``); more use a softmax over k outputs.
    ``class_weight`` (a dict by label, or ``"balanced"``) multiplies each row's weight by its class's.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from fieldguide.models import LogisticRegression
        >>> X, y = load_iris(return_X_y=True)
        >>> LogisticRegression().fit(X, y).score(X, y) > 0.9
        True
    """

    def __init__(
        self,
        penalty="deprecated",
        *,
        C=1.0,
        l1_ratio=0.0,
        class_weight=None,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.LogLoss() if n_classes == 2 else objectives.SoftmaxCrossEntropy(n_classes)

    def _penalty_kind(self) -> str | None:
        """``"l2"``, ``"l1"``, ``"elasticnet"`` or None, from ``penalty`` or, when it is left ``"deprecated"`` (as
        scikit-learn 1.8 on), from ``l1_ratio`` and ``C``."""
        if self.penalty == "deprecated":
            ratio = self.l1_ratio or 0.0
            return (
                None if np.isposinf(self.C) else "l2" if ratio == 0 else "l1" if ratio == 1 else "elasticnet"
            )
        if self.penalty not in ("l2", "l1", "elasticnet", None):
            raise ValueError(
                f"LogisticRegression: penalty must be 'l2', 'l1', 'elasticnet' or None, got {self.penalty!r}"
            )
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("LogisticRegression: penalty='elasticnet' needs l1_ratio in [0, 1], got None")
        return self.penalty

    def _penalty(self, weight_sum, n_rows):
        kind, alpha = self._penalty_kind(), 1.0 / (self.C * weight_sum)
        if kind == "elasticnet":
            return penalties.ElasticNet(alpha, self.l1_ratio)
        return None if kind is None else penalties.L1(alpha) if kind == "l1" else penalties.L2(alpha)

    def _optimizer(self):
        return "proximal" if self._penalty_kind() in ("l1", "elasticnet") else "lbfgs"


class _GLM(ZooRegressor):
    """A log-link GLM as scikit-learn's ``_GeneralizedLinearRegressor``:
    ``Σ w·deviance/(2W) + alpha/2·||β||²`` = the core's half deviance ``+ L2(alpha)`` unchanged."""

    def _penalty(self, weight_sum, n_rows):
        return penalties.L2(self.alpha)

    def __sklearn_tags__(self):
        # as scikit-learn's GLMs: a log-link deviance is defined for y >= 0 (Gamma: y > 0) only, so tools that
        # generate targets (the estimator checks, search spaces) must generate positive ones
        tags = super().__sklearn_tags__()
        # parameters fit() refuses (a Tweedie power of 0.5) have tags too
        with contextlib.suppress(ValueError):
            tags.target_tags.positive_only = not isinstance(self._loss(None), objectives.SquaredError)
        return tags


class PoissonRegressor(_GLM):
    """Poisson regression with log link, as scikit-learn's ``PoissonRegressor`` (see ``_GLM`` for the mapping)."""

    def __init__(
        self,
        *,
        alpha=1.0,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.Poisson()


class GammaRegressor(_GLM):
    """Gamma regression with log link, as scikit-learn's ``GammaRegressor`` (see ``_GLM`` for the mapping)."""

    def __init__(
        self,
        *,
        alpha=1.0,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.Gamma()


class TweedieRegressor(_StandardisedTarget, _GLM):
    """Tweedie regression, as scikit-learn's ``TweedieRegressor`` with ``link="auto"``: ``power=0`` is the normal
    distribution with identity link (half squared error), ``power >= 1`` uses the log link (see ``_GLM``)."""

    def __init__(
        self,
        *,
        power=0.0,
        alpha=1.0,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.power = power
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        if self.power < 0 or 0 < self.power < 1:
            raise ValueError(
                f"TweedieRegressor: power must be 0 or >= 1, got {self.power!r} (no distribution exists between 0 "
                "and 1; negative powers, scikit-learn's identity-link extreme stable family, are not implemented)"
            )
        return objectives.SquaredError() if self.power == 0 else objectives.Tweedie(float(self.power))

    def _target_map(self, y, weight):
        # the normal distribution's identity link is equivariant in y's location and scale; the log link is not
        return super()._target_map(y, weight) if self.power == 0 else None


class LinearSVC(ZooClassifier):
    """Linear support vector classifier, as scikit-learn's ``LinearSVC`` (squared hinge, L2, one-vs-rest):
    ``½||β||² + C·Σ w·max(0, 1 - y·f)²``, divided by ``C·W``: ``SquaredHinge() + L2(1/(C·W))``.

    Unlike liblinear, the intercept is not penalised (liblinear treats it as a weight on a constant feature of
    value ``intercept_scaling``); with ``fit_intercept=False`` the two solve the same problem. ``class_weight``
    (a dict by label, or ``"balanced"``) sets class i's C to ``class_weight[i]·C``, as liblinear does.
    """

    _probabilistic: ClassVar[bool] = False

    def __init__(
        self,
        *,
        C=1.0,
        class_weight=None,
        fit_intercept=True,
        tol=1e-6,
        max_iter=1000,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.C = C
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _loss(self, n_classes):
        return objectives.SquaredHinge()

    def _penalty(self, weight_sum, n_rows):
        return penalties.L2(1.0 / (self.C * weight_sum))

    def _fit_classes(self, X, ids, sample_weight, class_weight):
        n_classes = len(self.classes_)
        if n_classes == 2:
            return super()._fit_classes(X, ids, sample_weight, class_weight)
        # one-vs-rest: one binary problem per class, stacked as the columns of coef/intercept; as liblinear, a
        # class weight scales that class's rows in its own problem only (the rest keep C)
        columns, n_iter, converged = [], 0, True
        for k in range(n_classes):
            weight = (
                sample_weight
                if class_weight is None
                else sample_weight * np.where(ids == k, class_weight[k], 1)
            )
            self._fit_encoded(X, (ids == k).astype(np.int32), weight, 2)
            columns.append(self.params_)
            n_iter, converged = max(n_iter, self.n_iter_), converged and self.converged_
        self.params_ = {key: np.concatenate([c[key] for c in columns], axis=-1) for key in columns[0]}
        self.n_iter_, self.converged_ = n_iter, converged  # the slowest class's count; converged if all did


# -- the concomitant-scale Huber pieces ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _ScaledLinear(models.Linear):
    """A linear model whose second output is the log of the residual scale σ (one parameter for all rows)."""

    def init(self, key, n_features, n_outputs):
        return {**super().init(key, n_features, 1), "log_scale": jnp.zeros(())}

    def apply(self, params, X):
        f = super().apply(params, X)
        return jnp.concatenate([f, jnp.broadcast_to(params["log_scale"], f.shape)], axis=1)

    def penalized(self, params):
        return {key: key == "coef" for key in params}


@dataclasses.dataclass(frozen=True)
class _ConcomitantHuber(objectives.Objective):
    """scikit-learn's Huber objective per row, ``σ·(1 + H_ε(r/σ))``, from outputs ``[f, log σ]``."""

    epsilon: float = 1.35

    def per_row(self, outputs, y):
        sigma = jnp.exp(outputs[:, 1])
        z = jnp.abs(y[:, 0] - outputs[:, 0]) / sigma
        h = jnp.where(z <= self.epsilon, z**2, 2.0 * self.epsilon * z - self.epsilon**2)
        return sigma * (1.0 + h)

    def link(self, outputs):
        return outputs[:, 0]

    def n_outputs(self, y):
        return 2


__all__ = [
    "ElasticNet",
    "GammaRegressor",
    "HuberRegressor",
    "Lasso",
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "PoissonRegressor",
    "QuantileRegressor",
    "Ridge",
    "TweedieRegressor",
]
