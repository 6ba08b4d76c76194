"""Models trained by minibatch Adam (Optax): multilayer perceptrons and factorization machines.

Both follow scikit-learn's ``MLPClassifier``/``MLPRegressor`` conventions: ``max_iter`` is the number of epochs,
``batch_size="auto"`` is ``min(200, n)``, and scikit-learn adds ``alpha/(2·batch)·||W||²`` to each minibatch's mean
loss, so the core sees ``L2(alpha/batch_size)``. As in scikit-learn, a fit stops when the loss it watches has not
improved by ``tol`` for more than ``n_iter_no_change`` consecutive epochs (``converged_`` is then True; running out
of ``max_iter`` first gives a ``ConvergenceWarning``). It watches the training loss, or with
``early_stopping=True`` the score (accuracy, or R² for regressors) on ``validation_fraction`` of the rows held out
(stratified by class for classifiers), as scikit-learn does (``validation_scores_``, ``best_validation_score_``; ``validation_loss_curve_`` adds the
validation loss); either way the parameters of the best epoch are kept.

``warm_start=True`` makes ``fit`` start from the parameters of the previous fit (with a fresh optimizer, as
scikit-learn's does), and ``partial_fit`` runs one epoch over the rows it is given, continuing the optimizer's
state (Adam's moments and step count, SGD's momentum) and the shuffling from the previous call, which
``optimizer_state_`` holds (``fieldguide.io.save`` keeps it, so a loaded model's next ``partial_fit`` carries on
as the saved one's would); both extend ``loss_curve_`` and ``n_iter_``. A classifier's first ``partial_fit``
needs ``classes``.

The regressors (squared error) train on y standardised, ``(y - target_shift_) / target_scale_``, and map their
output layer back to y's units after each fit, where scikit-learn's train on y as it is: see ``_ScaledTarget``.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import jax
import numpy as np
import optax
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from fieldguide.core import models, objectives, optax_optimizer, penalties
from fieldguide.core._learner import check_sample_weight, numerics
from fieldguide.models._base import ZooClassifier, ZooEstimator, ZooRegressor, _real, encode_classes


class _Stochastic(ZooEstimator):
    """Shared by the minibatch-trained estimators: Adam, epochs, batches, early stopping, seeds."""

    _linear = False
    _continuing: str | None = None  # during a fit: "warm" (warm_start) or "partial" (partial_fit), else None

    def _batch_size(self, n_rows: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_rows)
        if not (isinstance(self.batch_size, int | np.integer) and self.batch_size >= 1):
            raise ValueError(
                f"{type(self).__name__}: batch_size must be 'auto' or an int >= 1, got {self.batch_size!r}"
            )
        return min(int(self.batch_size), n_rows)

    def _penalty(self, weight_sum, n_rows):
        if self._full_batch():  # scikit-learn divides by the total sample weight of the (whole) batch
            return penalties.L2(self.alpha / weight_sum)
        return penalties.L2(self.alpha / self._batch_size(n_rows))

    def _full_batch(self) -> bool:
        return getattr(self, "solver", "adam") == "lbfgs"

    def _optimizer(self):
        return optax_optimizer("adam", learning_rate=float(self.learning_rate_init))

    def _fit_options(self, n_rows):
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        options = {
            "epochs": self.max_iter,
            "batch_size": self._batch_size(n_rows),
            "validation_fraction": self.validation_fraction if self.early_stopping else 0.0,
            "patience": self.n_iter_no_change + 1,  # scikit-learn stops when the count *exceeds* it
            "seed": seed,
            "monitor": "score" if self.early_stopping else "loss",
            "shuffle": bool(getattr(self, "shuffle", True)),
        }
        if self._full_batch():  # L-BFGS: max_iter iterations over every row, no early stopping
            options |= {"validation_fraction": 0.0, "monitor": "loss"}
        if self._continuing == "partial":  # one epoch, no early stopping
            options |= {"epochs": 1, "validation_fraction": 0.0, "patience": None, "monitor": "loss"}
        if self._resuming():  # from the previous fit's parameters, with new shuffles
            options |= {"init_params": self.params_, "seed": (seed + self.n_iter_) % np.iinfo(np.int32).max}
            if self._continuing == "partial":  # the optimizer carries on where it was
                options["init_state"] = getattr(self, "optimizer_state_", None)
        if self._schedule() != "constant":
            seen = getattr(self, "t_", 0) if self._resuming() else 0
            options |= {"schedule": self._schedule(), "power_t": float(self.power_t), "samples_seen": seen}
        return options

    def _schedule(self) -> str:
        """scikit-learn's ``learning_rate`` schedule, which applies to its SGD only."""
        return self.learning_rate if getattr(self, "solver", "adam") == "sgd" else "constant"

    def __fieldguide_restore__(self, state: dict) -> None:
        """As the zoo's, with ``optimizer_state_`` read back into the optimizer's own state types (a bundle holds
        its arrays as plain tuples and dicts), after checking it fits this optimizer and these parameters."""
        state = dict(state)
        saved = state.pop("optimizer_state_", None)  # absent from bundles of earlier versions
        super().__fieldguide_restore__(state)
        self.optimizer_state_ = None if saved is None else self._restored_optimizer_state(saved)

    def _restored_optimizer_state(self, saved):
        if self._full_batch():
            raise ValueError("optimizer_state_: solver='lbfgs' fits keep no optimizer state")
        with numerics(self.dtype):
            expected = {
                "optimizer": jax.eval_shape(self._optimizer().init, self.params_),
                "key": jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))),
            }
        leaves, slots = jax.tree.leaves(saved), jax.tree.leaves(expected)
        fits = (
            isinstance(saved, dict)
            and saved.keys() == expected.keys()
            and len(leaves) == len(slots)
            and all(
                np.shape(a) == s.shape and np.asarray(a).dtype == s.dtype
                for a, s in zip(leaves, slots, strict=False)
            )
        )
        if not fits:
            shapes = [f"{s.dtype}{list(s.shape)}" for s in slots]
            found = [f"{np.asarray(a).dtype}{list(np.shape(a))}" for a in leaves]
            raise ValueError(f"optimizer_state_ should hold arrays {shapes}, found {found!s:.300}")
        return jax.tree.unflatten(jax.tree.structure(expected), [np.asarray(a) for a in leaves])

    def _resuming(self) -> bool:
        return self._continuing is not None and hasattr(self, "params_")

    def _fit_encoded(self, X, y, sample_weight, n_classes):
        resuming = self._resuming()
        n_iter, losses = (self.n_iter_, self.loss_curve_) if resuming else (0, [])
        validation = getattr(self, "validation_loss_curve_", []) if resuming else []
        scores = (getattr(self, "validation_scores_", None) or []) if resuming else []
        seen = getattr(self, "t_", 0) if resuming else 0  # bundles of earlier versions have no t_
        fitted = super()._fit_encoded(X, y, sample_weight, n_classes)
        history = fitted.history
        self.optimizer_state_ = fitted.opt_state
        if not self._full_batch():  # scikit-learn's t_: training rows the minibatch solver has seen
            held = self.validation_fraction if self.early_stopping and self._continuing != "partial" else 0
            self.t_ = seen + int(history["n_iter"]) * (X.shape[0] - math.ceil(held * X.shape[0]))
        self.n_iter_ += n_iter
        self.loss_curve_ = losses + [float(v) for v in history["loss"]]
        # as scikit-learn's: None without early stopping
        self.validation_scores_ = self.best_validation_score_ = None
        if "val_loss" in history:
            self.validation_loss_curve_ = validation + [float(v) for v in history["val_loss"]]
            self.validation_scores_ = scores + [float(v) for v in history["val_score"]]
            self.best_validation_score_ = max(self.validation_scores_)
        return fitted

    def _continue(self, mode: str | None, fit, *args):
        """``fit(*args)`` with ``_continuing`` set to ``mode`` for its duration."""
        self._continuing = mode
        try:
            return fit(*args)
        finally:
            del self._continuing

    @property
    def loss_(self) -> float:
        """The last epoch's training loss (mean loss plus penalty), as scikit-learn's ``loss_``."""
        check_is_fitted(self)
        return self.loss_curve_[-1]

    @property
    def best_loss_(self) -> float | None:
        """The lowest training loss of any epoch; None with early stopping, which watches the validation loss."""
        check_is_fitted(self)
        return None if self.early_stopping else min(self.loss_curve_)


@functools.cache
def _rated_sgd(rate: float, momentum: float | None, nesterov: bool):
    """SGD with its learning rate in its state (one shared object per configuration, so fits reuse compiled code)."""
    return optax.inject_hyperparams(optax.sgd)(learning_rate=rate, momentum=momentum, nesterov=nesterov)


class _MLP(_Stochastic):
    """scikit-learn's solvers: ``"adam"`` (``beta_1``, ``beta_2``, ``epsilon``) at the rate
    ``learning_rate_init``, ``"sgd"`` (``momentum``, ``nesterovs_momentum``) with scikit-learn's
    ``learning_rate`` schedules (``"constant"``; ``"invscaling"``: ``learning_rate_init / (t_ + 1) ** power_t``
    after each epoch, ``t_`` the training rows seen; ``"adaptive"``: divided by 5 where the fit would stop, until
    it is at most 1e-6; within ``partial_fit``, which never stops early, it keeps its rate), or ``"lbfgs"``:
    full-batch L-BFGS for ``max_iter`` iterations (and at most ``max_fun`` evaluations of the loss, line-search
    steps included) until the largest gradient is at most ``tol``, with the penalty
    ``alpha/(2W)·||W||²`` of the whole batch, and without ``partial_fit`` or early stopping, as scikit-learn's.

    Optax applies the momentum after the rate (the update is ``-rate·velocity`` with ``velocity = momentum·velocity
    + grad``), scikit-learn before it (``velocity = momentum·velocity - rate·grad``): the same steps at a constant
    rate; after a scheduled change, Optax's velocity takes the new rate at once, scikit-learn's over a few steps."""

    _rules: ClassVar[dict] = {"epsilon": ("a number > 0", lambda v: _real(v) and v > 0)}

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype="float32",
        devices=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.devices = devices

    def _optimizer(self):
        rate = float(self.learning_rate_init)
        if self.solver == "lbfgs":
            return "lbfgs"
        if self.solver == "sgd":
            momentum, nesterov = float(self.momentum) or None, bool(self.nesterovs_momentum)
            if self.learning_rate != "constant":  # the rate lives in the state, where the trainer sets it
                return _rated_sgd(rate, momentum, nesterov)
            return optax_optimizer("sgd", learning_rate=rate, momentum=momentum, nesterov=nesterov)
        return optax_optimizer(
            "adam", learning_rate=rate, b1=float(self.beta_1), b2=float(self.beta_2), eps=float(self.epsilon)
        )

    def _model(self):
        sizes = self.hidden_layer_sizes
        return models.MLP(
            hidden=(sizes,) if isinstance(sizes, int | np.integer) else tuple(sizes),
            activation=self.activation,
        )

    def _layers(self) -> list[dict]:
        # params_ holds "layer_0", "layer_1", …, "output": in number order, not key order ("layer_10" < "layer_2")
        check_is_fitted(self)
        return [self.params_[f"layer_{i}"] for i in range(len(self.params_) - 1)] + [self.params_["output"]]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices per layer, as scikit-learn's ``coefs_``."""
        return [layer["weight"] for layer in self._layers()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors per layer, as scikit-learn's ``intercepts_``."""
        return [layer["bias"] for layer in self._layers()]


class _Incremental:
    """``warm_start`` and ``partial_fit`` for the minibatch-trained estimators; placed before ``ZooClassifier`` /
    ``ZooRegressor`` so that its ``fit`` wraps theirs."""

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n, d) and ``y``, optionally weighting rows by ``sample_weight``; with ``warm_start``,
        from the parameters of the previous fit."""
        warm = self.warm_start and hasattr(self, "params_")
        if warm and hasattr(self, "classes_"):  # scikit-learn's rule: a warm start keeps the classes
            found = encode_classes(np.asarray(y))[0]
            if not np.array_equal(found, self.classes_):
                raise ValueError(
                    f"{type(self).__name__}: warm_start needs y to have the classes of the previous fit "
                    f"{self.classes_.tolist()}, found {found.tolist()}"
                )
        return self._continue("warm" if warm else None, super().fit, X, y, sample_weight)


def _stochastic(estimator) -> bool:  # partial_fit exists for minibatch solvers only, as in scikit-learn
    return not estimator._full_batch()


class _IncrementalRegressor(_Incremental):
    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of minibatch training over ``(X, y)``, from the previous call's parameters and optimizer
        state (the first call from a fresh initialisation)."""
        X, y = self._validate_fit(X, y, y_numeric=True, reset=not hasattr(self, "params_"))
        self._continue("partial", self._fit_target, X, y, sample_weight)
        return self


class _IncrementalClassifier(_Incremental):
    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch of minibatch training over ``(X, y)``, from the previous call's parameters and optimizer
        state. ``classes``: every label ``y`` may take, required on the first call (later calls may repeat it)."""
        name, first = type(self).__name__, not hasattr(self, "params_")
        if first and classes is None:
            raise ValueError(f"{name}: the first call to partial_fit needs classes=[every label y may take]")
        expected = self.classes_ if classes is None else encode_classes(np.asarray(classes))[0]
        if not first and not np.array_equal(expected, self.classes_):
            raise ValueError(
                f"{name}: classes={expected.tolist()} differ from the first call's {self.classes_.tolist()}"
            )
        if len(expected) < 2:
            raise ValueError(f"{name} needs at least 2 classes, got classes={expected.tolist()}")
        X, y = self._validate_fit(X, y, reset=first)
        y = np.asarray(y)
        ids = np.minimum(np.searchsorted(expected, y), len(expected) - 1)
        unknown = expected[ids] != y
        if unknown.any():
            raise ValueError(
                f"{name}: y has labels that are not in classes={expected.tolist()}: "
                f"{np.unique(y[unknown])[:5].tolist()}"
            )
        self.classes_ = expected
        self._continue("partial", self._fit_encoded, X, ids.astype(np.int32), sample_weight, len(expected))
        return self


class _ScaledTarget(ZooRegressor):
    """A minibatch-trained regressor (with ``_Stochastic``) that fits ``(y - target_shift_) / target_scale_`` (y's
    weighted mean and root mean square about it) and then maps its output layer back, so that ``params_`` and
    predictions are in y's units.

    Adam moves each weight by about ``learning_rate_init`` per step whatever the scale of y: on a price of
    180,000 ± 80,000 (2,175 rows to train, 725 held out, 20 features), scikit-learn's MLPRegressor ended its 200
    epochs with an RMSE of 192,000 where predicting the mean gives 69,000, and on y standardised
    (``TransformedTargetRegressor`` with a ``StandardScaler``, which this builds in) reached 19,000. ``alpha`` then
    weighs against the standardised loss, and ``loss_curve_``, ``tol`` and the validation loss are in its units (the
    R² of ``validation_scores_`` is the same in either). ``partial_fit`` and ``warm_start`` go on in the units of the
    fit they continue.
    """

    # a bundle written before the map was kept fitted y as it is
    target_shift_: float = 0.0
    target_scale_: float = 1.0
    _fit_map: tuple[float, float] = (0.0, 1.0)  # during a fit

    def _scales_target(self) -> bool:
        return True

    def _output_mapped(self, params: dict, shift: float, scale: float) -> dict:
        """``params`` of a model of the standardised y as a model of y: outputs ``shift + scale·f``. Its inverse is
        the same map with ``-shift/scale`` and ``1/scale``."""
        raise NotImplementedError

    def _fit_target(self, X, y, sample_weight) -> None:
        y = np.asarray(y, np.float64)
        if self._resuming():
            shift, scale = self.target_shift_, self.target_scale_
        elif self._scales_target():
            weight = check_sample_weight(
                _check_sample_weight(sample_weight, X, dtype=np.float64), len(y), "float64"
            )
            shift = float(np.average(y, weights=weight))
            scale = float(np.sqrt(np.average((y - shift) ** 2, weights=weight)))
            if not np.isfinite([shift, scale]).all():  # a spread beyond float64: y as it is
                shift, scale = 0.0, 1.0
            elif scale == 0:  # a constant y
                scale = 1.0
        else:
            shift, scale = 0.0, 1.0
        self._fit_map = (shift, scale)
        try:
            super()._fit_target(X, (y - shift) / scale, sample_weight)
        finally:
            del self._fit_map
        if (shift, scale) != (0.0, 1.0):
            mapped = self._output_mapped(self.params_, shift, scale)
            self.params_ = jax.tree.map(lambda a, b: np.asarray(a, np.asarray(b).dtype), mapped, self.params_)
        self.target_shift_, self.target_scale_ = shift, scale

    def _fit_options(self, n_rows):
        options = super()._fit_options(n_rows)
        if "init_params" in options and self._fit_map != (0.0, 1.0):  # back to the units the fit goes on in
            shift, scale = self._fit_map
            options["init_params"] = self._output_mapped(options["init_params"], -shift / scale, 1 / scale)
        return options

    def __fieldguide_restore__(self, state: dict) -> None:
        state = dict(state)
        shift, scale = (
            state.pop(name, default) for name, default in (("target_shift_", 0.0), ("target_scale_", 1.0))
        )
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in (shift, scale)
        )
        if not numbers or scale <= 0:
            raise ValueError(
                f"target_shift_ and target_scale_ should be finite numbers, the scale positive; found {shift!r}, "
                f"{scale!r}"
            )
        super().__fieldguide_restore__(state)
        self.target_shift_, self.target_scale_ = float(shift), float(scale)


class MLPRegressor(_IncrementalRegressor, _ScaledTarget, _MLP):
    """A multilayer perceptron for regression, with scikit-learn's ``MLPRegressor`` parameters.

    ``loss``: ``"squared_error"`` (half squared error, identity output) or ``"poisson"`` (half Poisson deviance
    with a log link: the output is ``exp`` of the last layer, for counts and rates ``y >= 0``), as scikit-learn
    1.7 on. ``loss_curve_`` holds the core's Poisson loss ``exp(f) - y·f`` (as the GLMs'), which leaves out the
    deviance's constant ``y·log(y) - y``: scikit-learn's curve sits higher by its weighted mean over the rows.
    ``loss`` is keyword-only (scikit-learn 1.7 made it the first positional parameter), so that
    ``MLPRegressor((64, 64))`` still means two hidden layers of 64.

    Example:
        >>> import numpy as np
        >>> from fieldguide.models import MLPRegressor
        >>> X = np.random.default_rng(0).normal(size=(256, 2))
        >>> model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, X[:, 0])
        >>> len(model.loss_curve_)
        5
    """

    _rules: ClassVar[dict] = _MLP._rules | {
        "loss": ("'squared_error' or 'poisson'", lambda v: v in ("squared_error", "poisson"))
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="squared_error",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype="float32",
        devices=None,
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dtype=dtype,
            devices=devices,
        )
        self.loss = loss

    def _loss(self, n_classes):
        return objectives.Poisson() if self.loss == "poisson" else objectives.SquaredError()

    def _scales_target(self) -> bool:
        return self.loss != "poisson"  # counts keep their zero (and the log link its meaning)

    def _output_mapped(self, params, shift, scale):
        out = params["output"]
        return params | {"output": {"weight": out["weight"] * scale, "bias": shift + out["bias"] * scale}}


class MLPClassifier(_IncrementalClassifier, ZooClassifier, _MLP):
    """A multilayer perceptron classifier (logistic output for two classes, softmax for more), with
    scikit-learn's ``MLPClassifier`` parameters.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from fieldguide.models import MLPClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y).predict_proba(X).shape
        (150, 3)
    """

    def _loss(self, n_classes):
        return objectives.LogLoss() if n_classes == 2 else objectives.SoftmaxCrossEntropy(n_classes)


class _FM(_Stochastic):
    """Factorization machine: ``b + Xβ + Σ_{i<j} <v_i, v_j> x_i x_j`` with ``rank``-dimensional factors ``v``.

    The penalty is ``alpha/(2·batch)·(||β||² + ||V||²)`` per minibatch, as for the MLPs. ``coef_``/``intercept_``
    are the linear part; ``factors_`` has shape ``(d, rank, k)``.
    """

    _linear = True

    def __init__(
        self,
        rank=8,
        *,
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-2,
        max_iter=100,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=None,
        tol=1e-4,
        warm_start=False,
        dtype="float32",
        verbose=False,
        devices=None,
    ):
        self.rank = rank
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.tol = tol
        self.warm_start = warm_start
        self.dtype = dtype
        self.verbose = verbose
        self.devices = devices

    def _model(self):
        return models.FactorizationMachine(rank=self.rank)

    @property
    def factors_(self) -> np.ndarray:
        return self.params_["factors"]


class FactorizationMachineRegressor(_IncrementalRegressor, _ScaledTarget, _FM):
    """A factorization machine for regression (half squared error); see ``_FM`` for the model and penalty.

    Example:
        >>> import numpy as np
        >>> from fieldguide.models import FactorizationMachineRegressor
        >>> X = np.random.default_rng(0).normal(size=(256, 3))
        >>> FactorizationMachineRegressor(rank=2, max_iter=3, random_state=0).fit(X, X[:, 0] * X[:, 1]).factors_.shape
        (3, 2, 1)
    """

    def _loss(self, n_classes):
        return objectives.SquaredError()

    def _output_mapped(self, params, shift, scale):
        # the pairwise term is quadratic in the factors: scale·<v_i, v_j> = <√scale·v_i, √scale·v_j>
        return params | {
            "coef": params["coef"] * scale,
            "intercept": shift + params["intercept"] * scale,
            "factors": params["factors"] * math.sqrt(scale),
        }


class FactorizationMachineClassifier(_IncrementalClassifier, ZooClassifier, _FM):
    """A factorization machine classifier (logistic for two classes, softmax for more); see ``_FM``."""

    def _loss(self, n_classes):
        return objectives.LogLoss() if n_classes == 2 else objectives.SoftmaxCrossEntropy(n_classes)
