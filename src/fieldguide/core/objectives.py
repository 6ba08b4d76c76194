"""Objectives: a loss on the model's outputs, penalties on its weights, and a link to predictions.

``loss(outputs, y, sample_weight)`` is the **weighted mean** of the per-row loss, ``Σ w·l / Σ w``; the trainer
minimises ``loss + Σ penalties``. Per-row losses follow scikit-learn's ``sklearn._loss`` (half squared error,
half Poisson/Gamma/Tweedie deviance without the constant terms), so the estimator layer only has to rescale
alpha/C. Each objective also says how many outputs it needs for a target (``n_outputs(y)``), how the target is
encoded for training (``encode(y)``, which validates its values) and, where it has a closed form, the outputs of
the best constant model (``constant_outputs(y, w)``), where a full-batch fit of a linear model starts its
intercept.

Example:
    >>> import numpy as np
    >>> from fieldguide.core import objectives, penalties
    >>> obj = objectives.LogLoss() + penalties.L2(1e-3)
    >>> obj.n_outputs(np.array([0, 1, 1]))
    1
    >>> obj.penalty.l2_strength
    0.001
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from fieldguide.core.penalties import Penalties, Penalty
from fieldguide.errors import DataError

__all__ = [
    "Gamma",
    "Huber",
    "LogLoss",
    "Objective",
    "Pinball",
    "Poisson",
    "SoftmaxCrossEntropy",
    "SquaredError",
    "SquaredHinge",
    "Tweedie",
]


@dataclasses.dataclass(frozen=True)
class Objective:
    """Base of the objectives. Subclasses define ``per_row``; regression targets may be 1-D or 2-D."""

    penalty: Penalties = dataclasses.field(default=Penalties(), kw_only=True)

    #: False for losses without a continuous gradient (pinball): full-batch L-BFGS refuses them.
    smooth = True
    #: True for classifiers' losses, whose encoded target is a class id: validation rows are then stratified.
    classifies = False
    #: The loss's typical second derivative in an output, or its bound where it has one (squared error 1, log
    #: loss 1/4): the solvers' preconditioner weighs a column's spread against the L2 penalty with it, and
    #: L-BFGS sizes a linear model's first step by it.
    curvature = 1.0
    #: True where the loss is convex in the outputs: a linear model's full-batch L-BFGS may then stop on the
    #: decrease its quadratic model predicts for the next step.
    convex = False

    def __add__(self, other: Penalty) -> Objective:
        if not isinstance(other, Penalty):
            return NotImplemented
        return dataclasses.replace(self, penalty=Penalties(self.penalty.terms + other.terms))

    __radd__ = __add__

    def per_row(self, outputs: jax.Array, y: jax.Array) -> jax.Array:
        """The loss of each row, shape ``(n,)``, given outputs ``(n, k)`` and the encoded target."""
        raise NotImplementedError

    def loss(self, outputs: jax.Array, y: jax.Array, sample_weight: jax.Array) -> jax.Array:
        """Weighted mean of the per-row loss (rows with zero weight do not count at all)."""
        total = jnp.sum(sample_weight)
        return jnp.sum(sample_weight * self.per_row(outputs, y)) / jnp.where(total > 0, total, 1.0)

    def link(self, outputs: jax.Array) -> jax.Array:
        """Predictions from raw outputs: ``(n,)`` for one output, ``(n, k)`` otherwise."""
        return _squeeze(outputs)

    def score(self, outputs: jax.Array, y: jax.Array, sample_weight: jax.Array) -> jax.Array:
        """How good the predictions are, higher is better, as scikit-learn's ``score`` would say: here the
        weighted R² of the link's predictions, averaged over outputs (1 for a perfect fit; a constant target
        scores 1 when matched, else 0); classifiers' objectives give the weighted accuracy."""
        predicted = self.link(outputs).reshape(y.shape)
        w = sample_weight[:, None]
        total = jnp.sum(w)
        mean = jnp.sum(w * y, axis=0) / jnp.where(total > 0, total, 1.0)
        residual = jnp.sum(w * jnp.square(y - predicted), axis=0)
        spread = jnp.sum(w * jnp.square(y - mean), axis=0)
        exact = jnp.where(residual == 0, 1.0, 0.0)
        r2 = jnp.where(spread > 0, 1.0 - residual / jnp.where(spread > 0, spread, 1.0), exact)
        return jnp.mean(r2)

    def n_outputs(self, y: np.ndarray) -> int:
        """How many raw outputs the model needs for this target."""
        return 1 if y.ndim == 1 else y.shape[1]

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Validate the target's values and return it as training needs it (float, ``(n, k)``)."""
        y = np.asarray(y, dtype=np.float64)
        return y[:, None] if y.ndim == 1 else y

    def constant_outputs(self, y: np.ndarray, sample_weight: np.ndarray) -> np.ndarray | None:
        """The raw outputs ``(k,)`` of the best constant model for the encoded target ``y`` ``(n, k)``, in closed
        form, or None where there is none. Full-batch fits of a linear model start their intercept there (as
        scikit-learn's GLMs do): a Poisson fit of counts averaging e^6 takes 7 evaluations from there, 16 from
        zero."""
        return None


def _weighted_mean(y: np.ndarray, sample_weight: np.ndarray) -> np.ndarray:
    """The weighted mean of each column of ``y``, ``(k,)``, in float64."""
    # not ``w @ y``: BLAS's threads spin after a product and slow the compiled fit that follows on few cores
    w = sample_weight.astype(np.float64)
    return np.sum(w[:, None] * y, axis=0) / w.sum()


def _squeeze(outputs: jax.Array) -> jax.Array:
    return outputs[:, 0] if outputs.shape[1] == 1 else outputs


def _accuracy(correct: jax.Array, sample_weight: jax.Array) -> jax.Array:
    total = jnp.sum(sample_weight)
    return jnp.sum(sample_weight * correct) / jnp.where(total > 0, total, 1.0)


def _binary(y: np.ndarray) -> bool:
    """Whether every value of ``y`` is 0 or 1: integer labels by their range (``np.isin`` sorts them, 2 ms for
    200k labels against 0.03 ms)."""
    if y.dtype.kind in "biu":
        return y.size == 0 or bool(y.min() >= 0 and y.max() <= 1)
    return bool(np.isin(y, (0, 1)).all())


def _require(ok: bool, objective: str, expected: str, y: np.ndarray) -> None:
    if not ok:
        found = np.unique(y)
        shown = ", ".join(repr(v.item()) for v in found[:8]) + (", ..." if found.size > 8 else "")
        shape = f"shape {y.shape}, " if y.ndim != 1 and expected.startswith("a 1-D") else ""
        raise DataError(f"y: {objective} expects {expected}; found {shape}values {{{shown}}}")


@dataclasses.dataclass(frozen=True)
class SquaredError(Objective):
    """Half squared error ``(y - f)²/2`` (identity link)."""

    convex = True

    def per_row(self, outputs, y):
        return 0.5 * jnp.sum(jnp.square(outputs - y), axis=1)

    def constant_outputs(self, y, sample_weight):
        return _weighted_mean(y, sample_weight)


@dataclasses.dataclass(frozen=True)
class Huber(Objective):
    """``r²/2`` for ``|r| <= epsilon``, ``epsilon·(|r| - epsilon/2)`` beyond (identity link)."""

    epsilon: float = 1.35
    convex = True

    def per_row(self, outputs, y):
        r = jnp.abs(outputs - y)
        return jnp.sum(
            jnp.where(r <= self.epsilon, 0.5 * r**2, self.epsilon * (r - 0.5 * self.epsilon)), axis=1
        )


@dataclasses.dataclass(frozen=True)
class Pinball(Objective):
    """Quantile loss ``max(q·r, (q - 1)·r)`` with ``r = y - f`` (not smooth: use an Optax optimizer)."""

    quantile: float = 0.5
    smooth = False
    convex = True

    def __post_init__(self):
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"Pinball: quantile must be in (0, 1), got {self.quantile!r}")

    def per_row(self, outputs, y):
        r = y - outputs
        return jnp.sum(jnp.maximum(self.quantile * r, (self.quantile - 1.0) * r), axis=1)


@dataclasses.dataclass(frozen=True)
class LogLoss(Objective):
    """Binary cross-entropy on the logit, y in {0, 1}; the link gives the probability of class 1."""

    classifies = True
    convex = True
    curvature = 0.25  # p(1 - p), at most 1/4

    def per_row(self, outputs, y):
        f = outputs[:, 0]
        return jnp.logaddexp(0.0, f) - y[:, 0] * f

    def link(self, outputs):
        return jax.nn.sigmoid(outputs[:, 0])

    def score(self, outputs, y, sample_weight):
        return _accuracy((outputs[:, 0] > 0) == (y[:, 0] > 0.5), sample_weight)

    def n_outputs(self, y):
        return 1

    def encode(self, y):
        y = np.asarray(y)
        _require(y.ndim == 1 and _binary(y), "LogLoss", "a 1-D target with values in {0, 1}", y)
        return y.astype(np.float64)[:, None]

    def constant_outputs(self, y, sample_weight):
        p = _weighted_mean(y, sample_weight)
        return np.log(p / (1 - p)) if 0 < p[0] < 1 else None


@dataclasses.dataclass(frozen=True)
class SoftmaxCrossEntropy(Objective):
    """Multinomial cross-entropy, y integer class ids ``0..n_classes-1``; the link gives class probabilities.

    ``n_classes=None`` infers ``max(y) + 1``; pass it explicitly when a fold may miss the last class.
    """

    classifies = True
    convex = True
    curvature = 0.25  # p(1 - p) on the diagonal, at most 1/4

    n_classes: int | None = None

    def per_row(self, outputs, y):
        picked = jnp.take_along_axis(outputs, y.astype(jnp.int32), axis=1)[:, 0]
        return jax.nn.logsumexp(outputs, axis=1) - picked

    def link(self, outputs):
        return jax.nn.softmax(outputs, axis=1)

    def score(self, outputs, y, sample_weight):
        return _accuracy(jnp.argmax(outputs, axis=1) == y[:, 0].astype(jnp.int32), sample_weight)

    def n_outputs(self, y):
        return self.n_classes if self.n_classes is not None else int(np.max(y)) + 1

    def encode(self, y):
        y = np.asarray(y)
        ok = y.ndim == 1 and y.size > 0 and np.all(y >= 0) and np.all(np.mod(y, 1) == 0)
        if ok and self.n_classes is not None:
            ok = bool(np.max(y) < self.n_classes)
        bound = self.n_classes - 1 if self.n_classes is not None else "n_classes - 1"
        _require(ok, "SoftmaxCrossEntropy", f"a 1-D target of integer class ids in 0..{bound}", y)
        return y.astype(np.float64)[:, None]

    def constant_outputs(self, y, sample_weight):
        n_classes = self.n_outputs(y[:, 0])
        share = np.bincount(y[:, 0].astype(np.intp), sample_weight, minlength=n_classes)
        if not share.all():  # an absent class's best output is -inf
            return None
        outputs = np.log(share)
        return outputs - outputs.mean()  # softmax ignores a shift: the centred one


@dataclasses.dataclass(frozen=True)
class _LogLink(Objective):
    """Shared by the log-link GLMs: predictions are ``exp(outputs)``."""

    convex = True

    def link(self, outputs):
        return jnp.exp(_squeeze(outputs))

    def constant_outputs(self, y, sample_weight):
        mean = _weighted_mean(y, sample_weight)  # the deviance's optimum for a constant, whatever the power
        return np.log(mean) if (mean > 0).all() else None


@dataclasses.dataclass(frozen=True)
class Poisson(_LogLink):
    """Half Poisson deviance (scikit-learn's ``HalfPoissonLoss``): ``exp(f) - y·f``, y >= 0."""

    def per_row(self, outputs, y):
        return jnp.sum(jnp.exp(outputs) - y * outputs, axis=1)

    def encode(self, y):
        y = super().encode(y)
        _require(bool(np.all(y >= 0)), "Poisson", "non-negative values", y)
        return y


@dataclasses.dataclass(frozen=True)
class Gamma(_LogLink):
    """Half Gamma deviance (scikit-learn's ``HalfGammaLoss``): ``f + y·exp(-f)``, y > 0."""

    def per_row(self, outputs, y):
        return jnp.sum(outputs + y * jnp.exp(-outputs), axis=1)

    def encode(self, y):
        y = super().encode(y)
        _require(bool(np.all(y > 0)), "Gamma", "strictly positive values", y)
        return y


@dataclasses.dataclass(frozen=True)
class Tweedie(_LogLink):
    """Half Tweedie deviance with log link (scikit-learn's ``HalfTweedieLoss``); ``power`` 0, 1, 2 or > 1.

    y >= 0 for ``power < 2`` (y > 0 from 2 on).
    """

    power: float = 1.5

    def __post_init__(self):
        if 0.0 < self.power < 1.0:
            raise ValueError(
                f"Tweedie: power must be 0 or >= 1 (no distribution exists in between), got {self.power}"
            )

    @property
    def convex(self) -> bool:  # through the log link, the deviance is convex for powers 1 to 2 only
        return 1 <= self.power <= 2

    def per_row(self, outputs, y):
        p, f = self.power, outputs
        if p == 0:
            row = 0.5 * jnp.square(jnp.exp(f) - y)
        elif p == 1:
            row = jnp.exp(f) - y * f
        elif p == 2:
            row = f + y * jnp.exp(-f)
        else:
            row = jnp.exp((2 - p) * f) / (2 - p) - y * jnp.exp((1 - p) * f) / (1 - p)
        return jnp.sum(row, axis=1)

    def encode(self, y):
        y = super().encode(y)
        if self.power >= 2:
            _require(bool(np.all(y > 0)), f"Tweedie(power={self.power})", "strictly positive values", y)
        elif self.power > 0:
            _require(bool(np.all(y >= 0)), f"Tweedie(power={self.power})", "non-negative values", y)
        return y


@dataclasses.dataclass(frozen=True)
class SquaredHinge(Objective):
    """Linear-SVM loss ``max(0, 1 - y·f)²`` with y in {-1, +1} or {0, 1}; the link gives labels in {0, 1}."""

    classifies = True
    convex = True
    curvature = 2.0  # on each row inside the margin, which is every row at a zero start

    def per_row(self, outputs, y):
        return jnp.square(jnp.maximum(0.0, 1.0 - y[:, 0] * outputs[:, 0]))

    def link(self, outputs):
        return (outputs[:, 0] > 0).astype(jnp.int32)

    def score(self, outputs, y, sample_weight):
        return _accuracy((outputs[:, 0] > 0) == (y[:, 0] > 0), sample_weight)

    def n_outputs(self, y):
        return 1

    def encode(self, y):
        y = np.asarray(y)
        ok = y.ndim == 1 and (_binary(y) or np.isin(y, (-1, 1)).all())
        _require(ok, "SquaredHinge", "a 1-D target with values in {-1, +1} or {0, 1}", y)
        return np.where(y > 0, 1.0, -1.0)[:, None]
