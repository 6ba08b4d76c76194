"""``Learner`` (model + objective + optimizer) and the ``Fitted`` result it returns."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import gc
import itertools
import logging
import math
import operator
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fieldguide.core import _exported, _solvers, sparse
from fieldguide.core.models import Custom, FeatureMajor, Linear, Model
from fieldguide.core.objectives import Objective, Pinball
from fieldguide.core.penalties import Penalties
from fieldguide.errors import DataError

logger = logging.getLogger(__name__)

_DTYPES = ("float32", "float64")
_FULL_BATCH = ("lbfgs", "newton", "proximal", "interior_point")
_CHUNK_SECONDS = 0.25  # target wall time of one compiled chunk between progress updates
_QUIET_SECONDS = 1.0  # fits shorter than this never show a progress bar
_CACHE_MAX_BYTES = 1 << 30
_EIGHTHS_ROWS = 8192  # past this many rows, buckets step by an eighth of a power of two (see bucket)
_INT32_MAX = int(np.iinfo(np.int32).max)
_ALIGN = 64  # bytes: XLA's CPU client adopts host buffers aligned to this without copying


@functools.cache
def optax_optimizer(name: str, **hyperparams: Any) -> optax.GradientTransformation:
    """The Optax optimizer ``optax.<name>(**hyperparams)``, one shared object per configuration.

    Compiled loops are keyed by the optimizer object, so building optimizers through this function lets repeated
    fits with an equal configuration (cross-validation folds, cloned estimators) reuse compiled code.

    Example:
        >>> optax_optimizer("adam", learning_rate=1e-3) is optax_optimizer("adam", learning_rate=1e-3)
        True
    """
    return getattr(optax, name)(**hyperparams)


def bucket(n: int) -> int:
    """Rows are padded up to 64, 128, 256, 512 or 1024, then up to the next of 1280, 1536, 1792, 2048, 2560…
    (steps of a quarter of a power of two), and past 8,192 rows in steps of an eighth: there every pass over the
    padding costs its share of the fit, while a new bucket costs one compilation (200,000 rows pad to 212,992 in
    eighths, not 229,376, and their warm GLM fits ran 8-9 % faster)."""
    if n <= 1024:
        return max(64, 1 << (int(n) - 1).bit_length())
    step = 2 ** (int(math.log2(n)) - (3 if n > _EIGHTHS_ROWS else 2))
    return -(-n // step) * step


def column_bucket(d: int, n_pad: int) -> int:
    """Columns a small dense table is padded to before a fit of a built-in model (L-BFGS, FISTA or Optax): 8,
    16, 32 or 64, then multiples of 64, for at most ``_NARROW_ROWS`` padded rows; ``d`` itself beyond (there a
    pass over the padding would cost more than the compile it saves). Tables of 3 and of 5 columns then share one
    compiled loop, and their fits are those they would be unpadded (see ``Model.column_weights``)."""
    if n_pad > _NARROW_ROWS:
        return d
    return max(8, 1 << (d - 1).bit_length()) if d <= 64 else -(-d // 64) * 64


def _resize_columns(tree, keys: tuple[tuple[str, ...], ...], d: int, params=None):
    """``tree`` (parameters, or with ``params`` an Optax state for them) with the rows of the parameters at
    ``keys`` cut or zero-padded to ``d``: each array whose key path ends with one of ``keys`` and whose shape ends
    with that parameter's (the parameter itself; Adam's moments; a stack of them, as L-BFGS's memory). A zero
    column's moments are zero, as its gradient is; arrays of other shapes are left for the caller's check. In
    NumPy: an eager ``jnp.pad`` or slice would compile for each new shape."""
    like = tree if params is None else params
    shapes = {key: np.shape(functools.reduce(operator.getitem, key, like)) for key in keys}

    def resize(path, leaf):
        names = tuple(getattr(key, "key", None) for key in path)
        for key, shape in shapes.items():
            axis = np.ndim(leaf) - len(shape)
            if names[len(names) - len(key) :] == key and axis >= 0 and np.shape(leaf)[axis:] == shape:
                leaf = np.asarray(leaf)
                out = np.zeros((*leaf.shape[:axis], d, *leaf.shape[axis + 1 :]), leaf.dtype)
                kept = (slice(None),) * axis + (slice(min(d, leaf.shape[axis])),)
                out[kept] = leaf[kept]
                return jax.device_put(out)  # not jnp.asarray, which compiles a copy per shape
        return leaf

    return jax.tree_util.tree_map_with_path(resize, tree)


@functools.cache
def _enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache under ``cache_dir()/jax`` unless the user chose otherwise.

    ``FIELDGUIDE_JAX_CACHE=0`` disables it; a cache directory already configured (``jax.config`` or
    ``JAX_COMPILATION_CACHE_DIR``) is left alone.
    """
    from fieldguide._config import cache_dir

    if _exported.cache_disabled():
        return
    if jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    # our loops compile in a fraction of a second, JAX's default (1 s) would never cache them; the helpers around
    # them (initialisation, prediction) take 10-30 ms each, together a fifth of a first fit's time in a new process
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.01)
    # and so many entries are kept that the directory needs a bound: least recently used ones go past 1 GiB
    jax.config.update("jax_compilation_cache_max_size", _CACHE_MAX_BYTES)


_FITS = itertools.count()
# fits between two looks at the process's memory maps (a look costs about a millisecond)
_MAPS_CHECK_EVERY = 16


def release_compiled_code_if_crowded(force_check: bool = False) -> bool:
    """Drop JAX's compiled programs when this process nears the kernel's limit on memory maps.

    Every XLA:CPU executable keeps ~100-200 memory mappings for its code, and JAX keeps executables for reuse: a
    process that compiles thousands of shapes (a long search, a test suite) reaches Linux's ``vm.max_map_count``
    (65530 by default), and the next compilation aborts the process. Past half the limit this clears JAX's caches
    (``jax.clear_caches()``) and the exported loops loaded so far: later fits compile again, nothing crashes.
    Checked every ``_MAPS_CHECK_EVERY`` fits; returns whether it cleared. A no-op where ``/proc`` is absent.
    """
    if not force_check and next(_FITS) % _MAPS_CHECK_EVERY:
        return False
    limit = _max_map_count()
    if limit is None:
        return False
    with open("/proc/self/maps", "rb") as maps:
        count = sum(1 for _ in maps)
    if count <= limit // 2:
        return False
    logger.info("%d of %d memory maps in use: clearing JAX's compiled programs", count, limit)
    jax.clear_caches()
    _exported.forget()
    return True


@functools.cache
def _max_map_count() -> int | None:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


@dataclasses.dataclass(frozen=True, eq=False)
class Fitted:
    """A fitted model: ``params``, ``history`` and predictions through the objective's link. ``opt_state``: where
    an Optax fit ended, ``{"optimizer": its state, "key": the shuffling key's data}`` with NumPy leaves, which
    ``Learner.fit(init_state=...)`` continues from; None for full-batch solvers."""

    problem: _solvers.Problem
    params: Any
    history: dict
    dtype: str
    n_features: int
    penalty: Penalties
    opt_state: Any = None

    def _outputs(self, X, linked: bool) -> np.ndarray:
        X = _as_numbers(X, self.dtype)
        if X.shape[1] != self.n_features:
            raise DataError(f"X: expected {self.n_features} features (as in training), found {X.shape[1]}")
        with numerics(self.dtype):
            # the staged X goes to the compiled call as it is, as the zoo passes it: an explicit jax.device_put
            # first made a 1-row predict take 0.16 ms, not 0.08 (200k x 50: 4.8 ms, not 4.4)
            run = functools.partial(_solvers.predict, self.problem, self.params, linked=linked)
            return predict_rows(X, self.dtype, run)

    def decision_function(self, X) -> np.ndarray:
        """Raw model outputs (before the link): ``(n,)`` for one output, ``(n, k)`` otherwise."""
        out = self._outputs(X, linked=False)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X) -> np.ndarray:
        """Predictions with the link applied (e.g. probabilities of class 1 for ``LogLoss``)."""
        return self._outputs(X, linked=True)

    def objective_value(self, X, y, sample_weight=None) -> float:
        """The full penalised objective ``loss + Σ penalties`` on ``(X, y)``, to compare with references."""
        with numerics(self.dtype):
            X, y, w = _check_data(self.problem.objective, X, y, sample_weight, self.dtype)
            hyper = {"l2": self.penalty.l2_strength, "l1": self.penalty.l1_strength}
            arrays = jax.device_put((stage_rows(X, X.shape[0], self.dtype), y, w))
            return float(_solvers.objective_value(self.problem, self.params, *arrays, hyper))


@dataclasses.dataclass(frozen=True)
class Learner:
    """The three elements: a model, an objective and an optimizer, trained by one compiled loop.

    The trainer minimises ``objective.loss (weighted mean over rows) + Σ penalties``.

    Args:
        optimizer: an ``optax.GradientTransformation`` (minibatch epochs; an L1 part is handled by a proximal
            orthant step that yields exact zeros; line-search ones such as ``optax.lbfgs()`` get each batch's
            value and a function re-evaluating it, so a batch holding every row makes them full-batch),
            ``"lbfgs"`` (full-batch ``optax.lbfgs`` with zoom linesearch for smooth objectives, a linear model's
            first step sized by ``Objective.curvature``; objectives with an L1 part switch to FISTA), ``"newton"``
            (full-batch damped Newton for one-output ``models.Linear``: each step is one matrix product over X and an
            eigendecomposition of the d×d Hessian, and GLMs converge in a handful of steps however badly scaled the
            features; an L1 part switches to FISTA), ``"proximal"`` (full-batch FISTA with backtracking) or
            ``"interior_point"`` (for ``Pinball`` plus an optional L1 on one-output ``models.Linear``: the exact
            solution of that linear program by a primal-dual interior point method, in tens of d×d solves).
            Compiled code is keyed by the optimizer object: reuse the object, or build it with
            :func:`optax_optimizer`, to avoid recompiling.
        dtype: ``"float32"`` (default) or ``"float64"``. Float64 runs inside ``jax.enable_x64`` scopes, so it
            does not change JAX's global setting for float32 users. Matrix products run at the dtype's full
            precision on every platform (not on a GPU's TF32 tensor cores), so a fit on a GPU reaches the CPU's.
        tol: full batch: stop when the largest absolute gradient (gradient mapping for FISTA) is ``<= tol`` or
            the objective's relative decrease is below 4·eps (machine epsilon of ``dtype``), or, for a float32
            ``"lbfgs"`` fit of a convex linear problem, the decrease the L-BFGS model predicts for the next step
            is; Optax: the improvement early stopping requires.
        max_iter: full batch: the most iterations.
        max_fun: ``"lbfgs"``: the most evaluations of the objective and its gradient (the first one and each
            line-search step count, as SciPy's ``maxfun``); None for no limit. A fit that reaches it stops unconverged
            and ``history["n_fun"]`` says how many it made.
        verbose: show a Rich progress bar for fits longer than about a second.
        devices: where the fit runs. ``None``: JAX's default device. An int ``k``, ``"all"``, or a sequence of
            ``jax.Device``: data parallel over those devices (several GPUs, say). The rows are split evenly, each
            device holds its part of X (the data goes to each device once) and computes its part of every pass,
            and the parameters are replicated: XLA adds the reductions across devices. Full-batch solvers reach
            the single-device solution (up to the order of floating-point sums); an Optax epoch draws each
            minibatch's rows evenly from every device's part, ``ceil(batch_size / k)`` rows each. The fitted
            parameters come back to the default device.

    Example:
        >>> import numpy as np
        >>> from fieldguide.core import Learner, models, objectives, optax_optimizer, penalties
        >>> X = np.random.default_rng(0).normal(size=(200, 5)); y = (X[:, 0] > 0).astype(int)
        >>> learner = Learner(models.MLP(hidden=(8,), activation="tanh"), objectives.LogLoss() + penalties.L2(1e-4),
        ...                   optax_optimizer("adam", learning_rate=1e-2), verbose=False)
        >>> fitted = learner.fit(X, y, epochs=20, batch_size=256, seed=0)
        >>> fitted.predict(X).shape, fitted.history["n_iter"]
        ((200,), 20)
    """

    model: Model
    objective: Objective
    optimizer: Any = "lbfgs"
    dtype: str = "float32"
    tol: float = 1e-6
    max_iter: int = 1000
    max_fun: int | None = None
    verbose: bool = True
    devices: Any = None

    def __post_init__(self):
        if not isinstance(self.model, Model):
            raise TypeError(
                f"Learner: model must be a fieldguide.core.models.Model, got {type(self.model)!r}"
            )
        if not isinstance(self.objective, Objective):
            raise TypeError(
                f"Learner: objective must be a fieldguide.core.objectives.Objective, got {self.objective!r}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(f"Learner: dtype must be one of {_DTYPES}, got {self.dtype!r}")
        if isinstance(self.optimizer, str):
            if self.optimizer not in _FULL_BATCH:
                raise ValueError(
                    f"Learner: optimizer must be one of {_FULL_BATCH} or an Optax transformation"
                )
            if self.optimizer == "interior_point":
                self._check_linear_program()
            elif not self.objective.smooth:
                raise ValueError(
                    f"Learner: {type(self.objective).__name__} is not smooth; full-batch {self.optimizer!r} "
                    "needs a smooth loss, use an Optax optimizer (e.g. optax.adam(1e-2))"
                )
            if self.optimizer == "newton" and type(self.model) is not Linear:
                raise ValueError(
                    f"Learner: optimizer 'newton' needs a models.Linear model, got {self.model!r}; "
                    "use 'lbfgs' for other models"
                )
        elif not hasattr(self.optimizer, "update"):
            raise TypeError(
                f"Learner: optimizer must be one of {_FULL_BATCH} or an Optax transformation, "
                f"got {self.optimizer!r}"
            )
        if not self.max_iter >= 1:
            raise ValueError(f"Learner: max_iter must be >= 1, got {self.max_iter!r}")
        if self.max_fun is not None and not self.max_fun >= 1:
            raise ValueError(f"Learner: max_fun must be None or >= 1, got {self.max_fun!r}")
        if isinstance(self.devices, list):  # a tuple, so that the learner stays hashable
            object.__setattr__(self, "devices", tuple(self.devices))
        self._mesh()  # a bad devices value fails here, not at fit time

    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        epochs: int = 100,
        batch_size: int = 256,
        validation_fraction: float = 0.0,
        patience: int | None = None,
        seed: int = 0,
        init_params=None,
        init_state=None,
        monitor: str = "loss",
        shuffle: bool = True,
        schedule: str = "constant",
        power_t: float = 0.5,
        samples_seen: int = 0,
    ) -> Fitted:
        """Train and return a :class:`Fitted`. ``X``: an array of numbers (rows, features), or a SciPy sparse
        matrix (see :mod:`fieldguide.core.sparse`). ``epochs``, ``batch_size``, ``validation_fraction`` and
        ``patience`` apply to Optax optimizers (full-batch solvers use ``tol``/``max_iter``).

        ``validation_fraction``: rows held out at random (for a classifier's objective, each class in proportion).
        ``patience``: stop after that many epochs without improvement of the validation loss (training loss
        without validation) and restore the best parameters. ``init_params``: start from these parameters
        instead of ``model.init``'s (whose intercept a full-batch fit of a linear model sets to the objective's
        best constant, ``Objective.constant_outputs``). ``init_state``: continue an Optax fit from the
        ``opt_state`` of an earlier one with this optimizer and parameters of the same shapes: the optimizer's
        state (Adam's moments and step count) and the shuffling key carry on, so epochs fitted over several
        calls on the same rows are those one call would fit. ``monitor``: what early stopping watches on the
        validation rows, the objective's ``"loss"`` or its ``"score"`` (accuracy for classifiers, R² otherwise:
        scikit-learn's MLPs watch it); with validation, ``history`` holds both per epoch (``val_loss``,
        ``val_score``).
        ``shuffle=False``: each epoch's minibatches take the rows in order (on each device, its own rows).
        ``schedule``: the learning rate of an Optax optimizer built with ``optax.inject_hyperparams`` (which keeps
        it in the state), per epoch as scikit-learn's SGD sets it: ``"constant"``, ``"invscaling"`` (after ``t``
        training rows, ``learning_rate / (t + 1) ** power_t``; ``samples_seen``: rows trained on by earlier fits
        this one continues) or ``"adaptive"`` (where ``patience`` runs out, the rate is divided by 5 and training
        goes on, until the rate is at most 1e-6).
        """
        full_batch = isinstance(self.optimizer, str)
        _check_positive_int("epochs", epochs)
        _check_positive_int("batch_size", batch_size)
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
        if patience is not None:
            _check_positive_int("patience", patience)
        if monitor not in ("loss", "score"):
            raise ValueError(f"monitor must be 'loss' or 'score', got {monitor!r}")
        if monitor == "score" and not (validation_fraction > 0 and not full_batch):
            raise ValueError("monitor='score' watches the validation rows: it needs validation_fraction > 0")
        if schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {schedule!r}")
        if schedule != "constant" and not _injected_rate(self.optimizer):
            raise ValueError(
                f"Learner: schedule={schedule!r} sets the learning rate in the optimizer's state; build the "
                "optimizer with optax.inject_hyperparams (e.g. optax.inject_hyperparams(optax.sgd)(learning_rate="
                f"0.1)), got {self.optimizer!r:.80}"
            )
        if init_state is not None and full_batch:
            raise ValueError(
                f"Learner: init_state continues an Optax optimizer; {self.optimizer!r} keeps none"
            )
        _enable_compilation_cache()
        release_compiled_code_if_crowded()
        with numerics(self.dtype):
            X, y, w = _check_data(self.objective, X, y, sample_weight, self.dtype)
            n_outputs = self.objective.n_outputs(np.asarray(y if y.shape[1] > 1 else y[:, 0]))
            given = init_params is not None
            if not given:
                init_params = _solvers.init_params(self.model, seed, X.shape[1], n_outputs, self.dtype)
            params = jax.tree.map(lambda p: jnp.asarray(p, self.dtype), init_params)
            if full_batch and not given:
                params = self._intercept_start(params, y, w)
            if given or type(self.model) is Custom:  # a built-in model's init and apply agree by construction
                _check_outputs(self.model, params, X, n_outputs, self.dtype)
            mesh = self._mesh()
            if full_batch:
                carry = self._fit_full_batch(params, X, y, w, mesh)
            else:
                carry = self._fit_optax(
                    params, X, y, w, mesh, epochs=epochs, batch_size=batch_size, validation_fraction=validation_fraction,
                    patience=patience, seed=seed, init_state=init_state, monitor=monitor, shuffle=shuffle,
                    schedule=schedule, power_t=power_t, samples_seen=samples_seen,
                )  # fmt: skip
            # read in one transfer: on a GPU each separate read waited for its own copy (~0.3 ms each)
            read = ("k", "hist", "converged", "n_fun", "val_hist", "val_score", "best_epoch", "params")
            host = jax.device_get({key: carry[key] for key in read if key in carry})
            n_iter = int(host["k"])
            if not all(np.isfinite(p).all() for p in jax.tree.leaves(host["params"])):
                raise FloatingPointError(
                    f"Learner: training diverged: the parameters became NaN or inf after {n_iter} "
                    f"{'iterations' if full_batch else 'epochs'} (loss history {host['hist'][:n_iter]}); "
                    "standardise X's columns, lower the learning rate or raise the penalty"
                )
            history = {
                "loss": host["hist"][:n_iter],
                "n_iter": n_iter,
                "converged": bool(host["converged"]),
                "best_epoch": n_iter,
            }
            if "n_fun" in host:
                history["n_fun"] = int(host["n_fun"])
            if validation_fraction > 0 and not full_batch:
                history["val_loss"] = host["val_hist"][:n_iter]
                history["val_score"] = host["val_score"][:n_iter]
            params_out = carry["params"]
            if patience is not None and not full_batch:
                history["best_epoch"] = int(host["best_epoch"])
                params_out = carry["best_params"]
            if mesh is not None:  # replicated across the devices: one copy on the default device
                params_out = jax.device_put(jax.device_get(params_out))
            opt_state = None
            if not full_batch:
                key = np.asarray(jax.random.key_data(carry["key"]))
                opt_state = {"optimizer": jax.device_get(carry["state"]), "key": key}
        return Fitted(
            self._problem("predict"),
            params_out,
            history,
            self.dtype,
            X.shape[1],
            self.objective.penalty,
            opt_state,
        )

    def _intercept_start(self, params, y, w):
        """A linear model's intercept at the objective's best constant (``Objective.constant_outputs``), where
        it has one: the solution is the same, reached in fewer steps when the target's mean is far from the
        link's zero."""
        if not (isinstance(self.model, Linear) and isinstance(params, dict) and "intercept" in params):
            return params
        start = self.objective.constant_outputs(y, w)
        if start is None or not np.isfinite(start).all():
            return params
        # cast and placed without jnp, which compiles a program for it on a first fit
        start = np.asarray(start, self.dtype).reshape(params["intercept"].shape)
        return params | {"intercept": jax.device_put(start)}

    def _problem(self, optimizer, **kw) -> _solvers.Problem:
        bare = dataclasses.replace(self.objective, penalty=Penalties())
        return _solvers.Problem(
            self.model, bare, optimizer, has_l1=self.objective.penalty.l1_strength > 0, **kw
        )

    def _hyper(self, **kw) -> dict:
        """The dynamic hyperparameters of the compiled loops (changing them never recompiles)."""
        penalty = self.objective.penalty
        return {"tol": float(self.tol), "l2": penalty.l2_strength, "l1": penalty.l1_strength, **kw}

    def _mesh(self) -> jax.sharding.Mesh | None:
        """The devices of a data-parallel fit as a one-axis mesh (``"rows"``), or None for the default device."""
        devices, available = self.devices, jax.devices()
        if devices is None:
            return None
        if devices == "all":
            devices = tuple(available)
        elif isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1:
            if devices > len(available):
                raise ValueError(
                    f"Learner: devices={devices} asks for more devices than JAX has ({len(available)}: "
                    f"{', '.join(str(d) for d in available)})"
                )
            devices = tuple(available[:devices])
        elif not (isinstance(devices, tuple) and devices and all(isinstance(d, jax.Device) for d in devices)):
            raise ValueError(
                "Learner: devices must be None, an integer >= 1, 'all' or a list of jax.Device, "
                f"got {self.devices!r}"
            )
        if len(set(devices)) != len(devices):
            raise ValueError(f"Learner: devices lists a device twice: {list(devices)}")
        if devices == (available[0],):
            return None
        return jax.sharding.Mesh(devices, ("rows",))

    def _fit_full_batch(self, params, X, y, w, mesh) -> dict:
        n, d = X.shape
        shards = 1 if mesh is None else mesh.size
        n_pad = bucket(max(-(-n // shards), _FULL_BATCH_ROWS)) * shards
        smooth_solver = self.optimizer in ("lbfgs", "newton")  # an L1 part takes them to FISTA
        use_fista = self.optimizer == "proximal" or (smooth_solver and self.objective.penalty.l1_strength > 0)
        solver = "fista" if use_fista else self.optimizer
        # zero columns, not for Newton nor the linear program: their systems would be singular along them
        columns, n_cols = self._column_padding(X, n_pad, solver in ("lbfgs", "fista"))
        if self._feature_major(X, solver, shards):
            X = stage_columns(X, n_pad, self.dtype, n_cols)
        else:
            X = stage_rows(X, n_pad, self.dtype, shards=shards, n_cols=n_cols)
        y, w = _pad_rows(y, n_pad, shards), _pad_rows(w, n_pad, shards)
        data = _put((X, y, w), mesh)
        if n_cols > d:
            params = _resize_columns(params, columns, n_cols)
        if solver in ("newton", "interior_point") and params["coef"].shape[1] != 1:
            raise ValueError(
                f"Learner: optimizer {solver!r} handles one output; {type(self.objective).__name__} needs "
                f"{params['coef'].shape[1]} here, use 'lbfgs'"
            )
        if solver in ("newton", "interior_point") and isinstance(X, sparse.SparseRows):
            raise ValueError(
                f"Learner: optimizer {solver!r} works on a dense X (it forms X^T D X); for a sparse X use 'lbfgs'"
                + (", or X.toarray() if it fits in memory" if solver == "interior_point" else "")
            )
        problem = self._problem(solver, history_len=_history_len(self.max_iter), shards=shards)
        init, run = _SOLVERS[solver]
        hyper = self._hyper()
        if solver == "lbfgs":
            hyper["max_fun"] = np.int32(min(self.max_fun or _INT32_MAX, _INT32_MAX))
        hyper |= self._preconditioner(X, w, n if shards == 1 else n_pad, ridge=hyper["l2"])
        carry = _solvers.unstarted(init, problem, _solvers.to_solver(params, hyper), data, hyper)
        carry = _drive(
            _exported.loop(run, problem, data, hyper), carry, self.max_iter, "iterations", self.verbose
        )
        fitted = _solvers.to_model(carry["params"], hyper)
        return carry | {"params": _resize_columns(fitted, columns, d) if n_cols > d else fitted}

    def _fit_optax(
        self,
        params,
        X,
        y,
        w,
        mesh,
        *,
        epochs,
        batch_size,
        validation_fraction,
        patience,
        seed,
        init_state,
        monitor,
        shuffle,
        schedule,
        power_t,
        samples_seen,
    ) -> dict:
        n = X.shape[0]
        n_val = math.ceil(validation_fraction * n) if validation_fraction > 0 else 0
        if n_val and n - n_val < 1:
            raise DataError(f"validation_fraction={validation_fraction} leaves no training rows out of {n}")
        n_train = n - n_val
        shards = 1 if mesh is None else mesh.size
        # per device: a batch holding every row is the whole padded bucket (padding rows weigh nothing), so every
        # batch_size of at least n_train, scikit-learn's "auto" on small data included, shares that bucket's
        # compiled loop
        rows = bucket(-(-n_train // shards))
        bs = rows if batch_size >= n_train else -(-batch_size // shards)
        n_pad = -(-rows // bs) * bs * shards
        # the optimizer's state is cut back with the parameters after the fit and padded again when a fit continues it
        columns, n_cols = self._column_padding(X, n_pad)
        stage = functools.partial(stage_rows, dtype=self.dtype, shards=shards, n_cols=n_cols)
        if n_val:
            order = np.random.default_rng(seed).permutation(n)
            if (
                self.objective.classifies
            ):  # each class keeps its share of the held-out rows, as scikit-learn's
                order = _stratified(order, y[:, 0], n_val)
            train, val = order[n_val:], order[:n_val]
            n_val_pad = bucket(-(-n_val // shards)) * shards
            data = [stage(X, n_pad, rows=train)]
            data += [_pad_rows(a[train], n_pad, shards) for a in (y, w)]
            data += [stage(X, n_val_pad, rows=val)]
            data += [_pad_rows(a[val], n_val_pad, shards) for a in (y, w)]
            data = _put(data, mesh)
        else:  # the validation arrays are placeholders, never read when has_validation is False
            data = [stage(X, n_pad), *(_pad_rows(a, n_pad, shards) for a in (y, w))]
            data = _put(data, mesh) + _put([a[:1] for a in data], mesh, shared=True)
        problem = self._problem(
            self.optimizer,
            batch_size=bs * shards,
            has_validation=bool(n_val),
            history_len=_history_len(epochs),
            monitor=monitor,
            shuffle=bool(shuffle),
            shards=shards,
            schedule=schedule,
        )
        shard_rows = np.asarray([last - first for first, last in _shares(n_train, shards)], np.int32)
        hyper = self._hyper(shard_rows=shard_rows, patience=-1 if patience is None else patience)
        hyper |= self._preconditioner(data[0], data[2], n_train if shards == 1 else n_pad)
        given_params = params
        if n_cols > X.shape[1]:
            params = _resize_columns(params, columns, n_cols)
        carry = _solvers.optax_init(problem, _solvers.to_solver(params, hyper), data, hyper, seed)
        if schedule != "constant":  # the rate the optimizer was built with, before any continued state
            rate = carry["state"].hyperparams["learning_rate"]
            hyper |= {"lr_init": rate, "power_t": np.asarray(power_t, rate.dtype)}
            hyper["seen"] = np.asarray(samples_seen, rate.dtype)
        if init_state is not None:
            if n_cols > X.shape[1] and isinstance(init_state, dict) and "optimizer" in init_state:
                state = _resize_columns(init_state["optimizer"], columns, n_cols, params=given_params)
                init_state = init_state | {"optimizer": state}
            carry |= _continued_state(init_state, carry)
        step = functools.partial(_solvers.optax_run, problem, data=data, hyper=hyper)
        carry = _drive(step, carry, epochs, "epochs", self.verbose)
        carry |= {key: _solvers.to_model(carry[key], hyper) for key in ("params", "best_params")}
        if n_cols > X.shape[1]:
            carry |= {
                key: _resize_columns(carry[key], columns, X.shape[1]) for key in ("params", "best_params")
            }
            carry["state"] = _resize_columns(carry["state"], columns, X.shape[1], params=params)
        return carry

    def _feature_major(self, X, solver: str, shards: int) -> bool:
        """Whether a full-batch fit stages X feature by feature: a column-major dense X (copied straight so), a
        ``Linear`` model (which reads X only through ``X @ coef``), L-BFGS or FISTA, one device. (Newton's
        blocked Hessian products ran slower over blocks of T's columns: 118-134 ms against 98-110 ms by rows on
        ``bench_glm.py --scaled``'s problems.)"""
        return (
            isinstance(X, np.ndarray)
            and X.flags.f_contiguous
            and not X.flags.c_contiguous
            and isinstance(self.model, Linear)
            and solver in ("lbfgs", "fista")
            and shards == 1
        )

    def _column_padding(self, X, n_pad: int, paddable: bool = True) -> tuple[tuple, int]:
        """``(keys, n_cols)``: the parameters that weigh X's columns (``Model.column_weights``) and the columns X is
        padded to (:func:`column_bucket`); ``((), d)`` where nothing is padded: a sparse X, or not ``paddable``."""
        columns = self.model.column_weights() if paddable and not sparse.is_sparse(X) else ()
        return columns, column_bucket(X.shape[1], n_pad) if columns else X.shape[1]

    def _check_linear_program(self) -> None:
        penalty = self.objective.penalty
        if (
            not isinstance(self.model, Linear)
            or not isinstance(self.objective, Pinball)
            or penalty.l2_strength
        ):
            raise ValueError(
                "Learner: optimizer 'interior_point' solves the linear program of a models.Linear fitted with "
                f"objectives.Pinball plus an optional L1 penalty; got {self.model!r} with "
                f"{type(self.objective).__name__}{' and an L2 part' if penalty.l2_strength else ''}"
            )

    def _preconditioner(self, X, w, n_rows: int, ridge: float = 0.0) -> dict:
        """Linear models (and their subclasses, which apply X only through ``coef`` and ``intercept``) train in
        standardised coordinates, whatever the optimizer; see ``_solvers.preconditioner``. The full-batch
        solvers weigh the columns' spread against the L2 strength ``ridge``."""
        if not isinstance(self.model, Linear):
            return {}
        ridge = float(ridge) / self.objective.curvature
        return _solvers.preconditioner(X, w, n_rows, self.model.fit_intercept, ridge=ridge)


_SOLVERS = {
    "fista": (_solvers.fista_init, _solvers.fista_run),
    "lbfgs": (_solvers.lbfgs_init, _solvers.lbfgs_run),
    "newton": (_solvers.newton_init, _solvers.newton_run),
    "interior_point": (_solvers.interior_init, _solvers.interior_run),
}


_SCHEDULES = ("constant", "invscaling", "adaptive")


def _injected_rate(optimizer) -> bool:
    """Whether ``optimizer`` keeps its learning rate in its state (``optax.inject_hyperparams``)."""
    if isinstance(optimizer, str):
        return False
    state = jax.eval_shape(optimizer.init, {"w": jax.ShapeDtypeStruct((1,), jnp.float32)})
    return "learning_rate" in getattr(state, "hyperparams", {})


def _history_len(n: int) -> int:
    """Room for the loss history: a power of two, at least 1024, so most epoch counts share compiled code."""
    return 1 << max(10, (int(n) - 1).bit_length())


def _drive(step, carry: dict, total: int, unit: str, verbose: bool) -> dict:
    """Run a compiled loop in chunks of about ``_CHUNK_SECONDS`` each, reading progress between chunks.

    The bar appears once the fit has taken ``_QUIET_SECONDS`` and enough work remains to be worth showing; the
    first chunk (one step, compilation included) is never used to predict the rest.
    """
    if not verbose:  # nothing to show: the whole loop is one compiled call and one host sync
        return step(carry, stop=total)
    start = time.perf_counter()
    chunk, calls, progress, task = 1, 0, None, None
    with contextlib.ExitStack() as stack:
        while True:
            t0, k0 = time.perf_counter(), int(carry["k"])
            carry = step(carry, stop=min(total, k0 + chunk))
            k, done, calls = int(carry["k"]), bool(carry["done"]), calls + 1
            if done or k >= total:
                break
            per_step = (time.perf_counter() - t0) / (k - k0)
            chunk = max(1, int(_CHUNK_SECONDS / max(per_step, 1e-9)))
            remaining = per_step * (total - k)
            slow = time.perf_counter() - start + remaining > _QUIET_SECONDS and remaining > _QUIET_SECONDS / 4
            if verbose and progress is None and calls >= 2 and slow:
                progress, task = _progress_bar(stack, unit, total)
            if progress is not None:
                progress.update(task, completed=k, loss=f"{float(carry['hist'][k - 1]):.6g}")
        if progress is not None:
            progress.update(task, completed=k, loss=f"{float(carry['hist'][k - 1]):.6g}")
    return carry


def _progress_bar(stack: contextlib.ExitStack, unit: str, total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn(f"training ({unit})"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    stack.enter_context(progress)
    return progress, progress.add_task("fit", total=total, loss="")


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _as_numbers(X, dtype: str):
    """``X`` as a 2-D array of numbers (rows, features), not yet cast to ``dtype`` nor checked finite: a numeric
    array is returned as it is, so that :func:`stage_rows` casts, pads and checks it in one pass. A SciPy sparse
    X is returned in CSR form."""
    if sparse.is_sparse(X):
        return _as_sparse_numbers(X)
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        try:
            X = np.asarray(X, dtype=dtype)
        except (TypeError, ValueError) as err:
            raise DataError(f"X: expected numbers, could not convert to {dtype}: {err}") from None
    if X.ndim != 2:
        raise DataError(
            f"X: expected a 2-D array (rows, features), found {X.ndim} dimension(s) with shape {X.shape}"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"X: expected at least one row and one feature, found shape {X.shape}")
    return X


def _as_sparse_numbers(X):
    if X.ndim != 2:
        raise DataError(f"X: expected a 2-D sparse matrix (rows, features), found shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"X: expected at least one row and one feature, found shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise DataError(f"X: expected a sparse matrix of numbers, found dtype {X.dtype}")
    if X.shape[1] > np.iinfo(np.int32).max:
        raise DataError(f"X: at most {np.iinfo(np.int32).max} features, found {X.shape[1]}")
    X = X.tocsr()
    if X.nnz and not 0 <= X.indices.min() <= X.indices.max() < X.shape[1]:  # a hand-built CSR may hold any
        raise DataError(
            f"X: a sparse matrix of {X.shape[1]} columns stores column indices from {X.indices.min()} to "
            f"{X.indices.max()}; expected 0 to {X.shape[1] - 1}"
        )
    return X


_STAGE_ROWS = 8192  # rows cast and copied at a time (a subset's rows: gathered that many at a time)
_NARROW_ROWS = 4096  # padded rows up to which a fit pads X's columns (column_bucket)
# the fewest rows a full-batch fit is padded to: tables of 1 to 1,024 rows share one compiled loop (a pass over
# 1,024 rows of 64 columns takes microseconds, a compile about a second)
_FULL_BATCH_ROWS = 1024


def _continued_state(given, carry: dict) -> dict:
    """The optimizer state and shuffling key of ``given`` (an earlier fit's ``opt_state``) placed as this fit's
    initial ones (``carry``) are, checked to have their structure, shapes and dtypes."""
    fresh = {"optimizer": carry["state"], "key": jax.random.key_data(carry["key"])}
    ok = (
        isinstance(given, dict)
        and jax.tree.structure(given) == jax.tree.structure(fresh)
        and all(
            np.shape(a) == b.shape
            for a, b in zip(jax.tree.leaves(given), jax.tree.leaves(fresh), strict=True)
        )
    )
    if not ok:
        raise ValueError(
            "Learner: init_state does not fit this optimizer and these parameters: expected an earlier fit's "
            f"opt_state shaped {jax.tree.map(lambda a: a.shape, fresh)}, found {jax.tree.map(np.shape, given)}"
        )
    placed = jax.tree.map(lambda a, b: jax.device_put(np.asarray(a, b.dtype), b.sharding), given, fresh)
    return {"state": placed["optimizer"], "key": jax.random.wrap_key_data(placed["key"])}


def _stratified(order: np.ndarray, labels: np.ndarray, n_held: int) -> np.ndarray:
    """``order`` (a permutation of the rows) rearranged so that its first ``n_held`` rows hold each class in
    proportion (largest remainders settle the rounding), each class's rows taken in ``order``'s order."""
    _, inverse, counts = np.unique(labels[order], return_inverse=True, return_counts=True)
    share = counts * n_held / len(order)
    quota = np.floor(share).astype(int)
    quota[np.argsort(quota - share, kind="stable")[: n_held - quota.sum()]] += 1
    rank = np.empty(len(order), int)  # each row's place among its class's rows in order
    rank[np.argsort(inverse, kind="stable")] = np.arange(len(order)) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    held = rank < quota[inverse]
    return np.concatenate([order[held], order[~held]])


def _put(arrays, mesh: jax.sharding.Mesh | None, shared: bool = False) -> tuple:
    """``arrays`` on the default device (:func:`_send`), or split by rows across ``mesh`` (``shared``: whole on each
    device)."""
    if mesh is None:
        return tuple(jax.tree.map(_send, a) for a in arrays)
    spec = jax.sharding.PartitionSpec() if shared else jax.sharding.PartitionSpec("rows")
    return tuple(jax.device_put(a, jax.sharding.NamedSharding(mesh, spec)) for a in arrays)


_SEND_BYTES = (4 << 20, 512 << 20)  # a host array of this size bound for an accelerator goes in parts...
_SEND_PART_BYTES = 2 << 20  # ...of at least this size...
_SEND_PARTS = 16  # ...and at most this many


def _send(a):
    """``a`` (an array) on the default device. Bound for an accelerator, a host array of 4 to 512 MB goes in up to
    16 parts along its first axis, all in flight at once, joined there by one compiled concatenation: the host
    copies each array to the device on one thread, so on an H200 a 40 MB X moved at 4.6-5.9 GB/s in one piece and
    at 20-23 GB/s in 16 parts (``benchmarks/probe_transfer.py``). The parts take as much memory again, on the host
    while they are copied and on the device until they are joined, hence the upper bound. On the CPU, an aligned
    buffer is used in place (:func:`stage_rows`)."""
    parts = _send_parts(a)
    return jax.device_put(a) if parts == 1 else _send_split(a, parts)


def _send_split(a: np.ndarray, parts: int) -> jax.Array:
    """``a`` sent to the default device in ``parts`` parts along its first axis, joined there."""
    return _join(jax.device_put(np.array_split(a, parts)))


@jax.jit
def _join(parts: list[jax.Array]) -> jax.Array:
    return jnp.concatenate(parts)


def _send_parts(a) -> int:
    """How many parts :func:`_send` sends ``a`` in: 1 (one piece) for anything but a NumPy array of 4 to 512 MB
    bound for an accelerator."""
    low, high = _SEND_BYTES
    if not isinstance(a, np.ndarray) or not low <= a.nbytes <= high or _default_platform() == "cpu":
        return 1
    return max(1, min(_SEND_PARTS, a.shape[0], a.nbytes // _SEND_PART_BYTES))


def _default_platform() -> str:
    """The platform of the device ``jax.device_put`` sends to: ``jax.default_device``'s where one is set."""
    chosen = jax.config.jax_default_device
    if chosen is None:
        return jax.default_backend()
    return chosen if isinstance(chosen, str) else chosen.platform


def _shares(n: int, shards: int) -> list[tuple[int, int]]:
    """``(first, last)`` of each device's rows: ``n`` rows split in order into ``shards`` near-equal runs."""
    bounds = [s * n // shards for s in range(shards + 1)]
    return list(itertools.pairwise(bounds))


def stage_rows(
    X, n_pad: int, dtype: str, rows: np.ndarray | None = None, shards: int = 1, n_cols: int | None = None
) -> np.ndarray:
    """``X`` (or its ``rows``, in that order) cast to ``dtype``, with zero rows appended up to ``n_pad`` (with zero
    sample weight they change nothing) and, for a dense ``X``, zero columns up to ``n_cols`` (see
    :func:`column_bucket`), in a 64-byte-aligned buffer, and checked finite. With ``shards``, the buffer is that
    many equal parts, one per device, each holding its share of the rows (:func:`_shares`) followed by its zero
    rows.

    The cast and the padded copy are one pass over ``X``, block by block (a subset's rows are gathered a block at a
    time, never all at once); the finiteness check is one sum over the buffer (:func:`_all_finite`); both run on
    a thread per core for a large table (:func:`_stage_workers`).
    ``jax.device_put`` uses such a buffer in place on the CPU, so the data exists once more, not twice (a plain
    ``jnp.asarray`` would copy it again), and a large buffer no array uses any more is filled again by the next
    fit of its size (:func:`_aligned_empty`).

    A SciPy sparse ``X`` is staged as :class:`~fieldguide.core.sparse.SparseRows` in the same row layout.
    """
    X = _as_numbers(X, dtype)
    if sparse.is_sparse(X):
        return _stage_sparse(X, n_pad, dtype, rows, shards)
    n, d = X.shape[0] if rows is None else len(rows), X.shape[1]
    out = _aligned_empty((n_pad, n_cols or d), np.dtype(dtype))
    out[:, d:] = 0
    blocks = []  # (rows of out, first and last row of X or of ``rows``)
    for part, (first, last) in zip(_parts(out, shards), _shares(n, shards), strict=True):
        for start in range(first, last, _STAGE_ROWS):
            stop = min(last, start + _STAGE_ROWS)
            blocks.append((part[start - first : stop - first, :d], start, stop))
        part[last - first :] = 0

    def copy(some: list) -> None:
        with np.errstate(over="ignore"):  # a value beyond dtype's range becomes inf, reported below
            for block, start, stop in some:
                block[...] = X[start:stop] if rows is None else X[rows[start:stop]]

    workers = _stage_workers(out.size)
    _in_threads(copy, [blocks[i::workers] for i in range(workers)])
    _check_staged(out, X, dtype, workers)
    return out


_PART_BYTES = 16 << 20  # a dense X larger than this (once cast) is predicted in parts of about this size


def predict_rows(X, dtype: str, run: Callable[[Any], jax.Array]) -> np.ndarray:
    """``run`` (a compiled prediction of a staged X, see :func:`stage_rows`) over every row of ``X``: its outputs,
    row for row.

    ``X`` is staged padded to its row bucket, so that every batch size in a bucket runs one compiled program (a
    server answering 1, 3 or 7 rows compiles once). A dense ``X`` of more than ``_PART_BYTES`` is predicted in
    parts of a power of two rows, each staged while the part before runs, so a prediction takes little memory
    beyond X and its outputs: a first ``predict_proba`` of a 2M x 50 float32 X peaked at 0.20x X more (1.21x in
    one piece). A non-finite value is reported in X's row numbers, as in one piece.
    """
    n = X.shape[0]
    rows = n if sparse.is_sparse(X) else _part_rows(X.shape[1], np.dtype(dtype).itemsize, n)
    parts, running = [], None
    for start in range(0, n, rows):
        part = X[start : start + rows]
        try:
            staged = stage_rows(part, bucket(part.shape[0]), dtype)
        except DataError:  # a non-finite value: a dense X's only error once it is numbers in two dimensions
            if rows == n:
                raise
            raise _non_finite(X, dtype) from None
        # dispatched: it runs while the next part is staged; a large part bound for an accelerator is sent in parts,
        # a small one goes to the compiled call as it is (a jax.device_put of its own doubled a 1-row prediction)
        pieces = _send_parts(staged)
        out = run(staged if pieces == 1 else _send_split(staged, pieces))
        if running is not None:
            parts.append(np.asarray(running[0])[: running[1]])
        running = (out, part.shape[0])
    parts.append(np.asarray(running[0])[: running[1]])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _part_rows(d: int, itemsize: int, n: int) -> int:
    """Rows of each part :func:`predict_rows` predicts: all ``n`` up to ``_PART_BYTES``, else the largest power of
    two whose rows fit in it (at least 1,024; a power of two is its own bucket, so full parts share one program)."""
    if n * d * itemsize <= _PART_BYTES:
        return n
    return max(1024, 1 << ((_PART_BYTES // (d * itemsize)).bit_length() - 1))


def stage_columns(X: np.ndarray, n_pad: int, dtype: str, n_cols: int) -> FeatureMajor:
    """A dense ``X`` staged feature by feature (:class:`~fieldguide.core.models.FeatureMajor`), as
    :func:`stage_rows` stages it by rows: cast to ``dtype``, zero rows up to ``n_pad`` and zero columns up to
    ``n_cols``, in an aligned buffer, checked finite. A column-major X (what pandas and Polars give) is copied
    straight, a feature at a time on a thread per core."""
    n, d = X.shape
    out = _aligned_empty((n_cols, n_pad), np.dtype(dtype))
    out[d:] = 0
    out[:d, n:] = 0

    def copy(part: range) -> None:
        with np.errstate(over="ignore"):  # a value beyond dtype's range becomes inf, reported below
            for j in part:
                out[j, :n] = X[:, j]

    workers = _stage_workers(out.size)
    _in_threads(copy, [range(i, d, workers) for i in range(workers)])
    _check_staged(out, X, dtype, workers)
    return FeatureMajor(out)


def _check_staged(out: np.ndarray, X, dtype: str, workers: int) -> None:
    """Raise a ``DataError`` naming X's first non-finite value (row and column) if the staged buffer ``out`` holds
    NaN or inf."""
    if not all(_in_threads(_all_finite, _parts(out, workers))):
        raise _non_finite(X, dtype)


def _non_finite(X: np.ndarray, dtype: str) -> DataError:
    """The error for a dense ``X`` that holds NaN or inf once cast to ``dtype``: how many rows, and the first value's
    row (in the caller's numbering) and column."""
    with np.errstate(over="ignore"):
        finite = np.isfinite(np.asarray(X, dtype=dtype))
    bad = np.flatnonzero(~finite.all(axis=1))
    return DataError(
        f"X: expected finite values in {dtype}, found NaN or inf in {bad.size} row(s), first at row {bad[0]}, "
        f"column {int(np.argmin(finite[bad[0]]))}"
    )


_THREADED_VALUES = 1 << 20  # values from which staging copies and checks X on several threads
_STAGE_THREADS = min(os.cpu_count() or 1, 8)


@functools.cache
def _stage_pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(_STAGE_THREADS, "fieldguide-stage")


def _stage_workers(n_values: int) -> int:
    """Threads staging ``n_values`` values: one for a small table, else one per core (up to 8). NumPy's copies and
    sums release the GIL, and XLA's threads are idle while X is staged: staging 200k × 50 floats takes 5.5 ms on
    two cores where it took 8-10."""
    return 1 if n_values < _THREADED_VALUES else _STAGE_THREADS


def _parts(a: np.ndarray, k: int) -> list[np.ndarray]:
    """``a`` cut by rows into ``k`` near-equal parts (``np.array_split``, which would take a third of the time of
    staging one row for a server's request when there is one part)."""
    return [a] if k == 1 else np.array_split(a, k)


def _in_threads(f, parts: list) -> list:
    """``[f(part) for part in parts]``, the parts on the staging threads when there are several."""
    if len(parts) == 1:
        return [f(parts[0])]
    return list(_stage_pool().map(f, parts))


def _stage_sparse(X, n_pad: int, dtype: str, rows, shards: int) -> sparse.SparseRows:
    picked = X if rows is None else X[rows]
    part = n_pad // shards
    shares = [(first, last, s * part) for s, (first, last) in enumerate(_shares(picked.shape[0], shards))]
    with np.errstate(over="ignore"):  # a value beyond dtype's range becomes inf, reported below
        # rows split across devices must be cut by rows alone: no overflow block
        staged = sparse.staged(picked, shares, n_pad, dtype, levels=2 if shards == 1 else 0)
    values = [leaf for leaf in jax.tree.leaves(staged) if leaf.dtype.kind == "f"]  # not the column indices
    if not all(_all_finite(leaf) for leaf in values):  # reported in the caller's rows
        with np.errstate(over="ignore"):
            bad = np.flatnonzero(~np.isfinite(X.data.astype(dtype)))
        bad_rows = np.unique(np.searchsorted(X.indptr, bad, side="right") - 1)
        raise DataError(  # CSR holds rows in order: the first bad value is in the first bad row
            f"X: expected finite values in {dtype}, found NaN or inf in {bad_rows.size} row(s), "
            f"first at row {bad_rows[0]}, column {X.indices[bad[0]]}"
        )
    return staged


def _check_outputs(model: Model, params, X: np.ndarray, n_outputs: int, dtype: str) -> None:
    """The model must map ``(n, d)`` rows to ``(n, n_outputs)`` outputs: a ``Custom`` apply returning ``(n,)``
    would otherwise broadcast against the targets and train to nonsense."""
    try:
        shape = jax.eval_shape(model.apply, params, jax.ShapeDtypeStruct((3, X.shape[1]), dtype)).shape
    except Exception as err:  # parameters that do not fit the model (init_params of another shape, say)
        raise ValueError(
            f"{type(model).__name__}.apply fails on these parameters and {X.shape[1]} features: {err}"
        ) from None
    if shape != (3, n_outputs):
        raise ValueError(
            f"{type(model).__name__}.apply: expected outputs of shape (n_rows, {n_outputs}) for this objective, "
            f"found {shape} for 3 rows"
        )


def _check_data(objective: Objective, X, y, sample_weight, dtype: str):
    """Checked ``y`` and weights; ``X`` is checked for shape and numbers here, cast and checked finite when it is
    staged (:func:`stage_rows`)."""
    X = _as_numbers(X, dtype)
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise DataError(f"y: expected {X.shape[0]} values (one per row of X), found shape {y.shape}")
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        raise DataError(f"y: expected finite values, found {int((~np.isfinite(y)).sum())} NaN or inf")
    with np.errstate(over="ignore", invalid="ignore"):  # reported just below, with the dtype that caused it
        y = objective.encode(y).astype(dtype)
    if not np.isfinite(y).all():  # beyond dtype's range, or None in an object array
        raise DataError(
            f"y: expected finite values in {dtype}, found {int((~np.isfinite(y)).sum())} NaN or inf"
        )
    w = (
        np.ones(X.shape[0], dtype)
        if sample_weight is None
        else check_sample_weight(sample_weight, X.shape[0], dtype)
    )
    return X, y, w


@contextlib.contextmanager
def numerics(dtype: str):
    """The scope every fieldguide program is traced in: float64 inside ``jax.enable_x64`` (JAX's global setting
    stays the user's), and matrix products at the full precision of ``dtype`` on every platform. A GPU's default
    runs float32 products on TF32 tensor cores, with 10 bits of mantissa: there an H200's float32 GLM fits ended
    1.8-3x further from scikit-learn's coefficients than the CPU's, in the same time."""
    with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
        yield


def check_sample_weight(sample_weight, n_rows: int, dtype: str) -> np.ndarray:
    """``sample_weight`` as an ``(n_rows,)`` array of ``dtype``: finite, none negative, with a positive total."""
    w = np.asarray(sample_weight, dtype=dtype)
    if w.shape != (n_rows,):
        raise DataError(f"sample_weight: expected shape ({n_rows},), found {w.shape}")
    for bad, expected in ((~np.isfinite(w), "finite values"), (w < 0, "values >= 0")):
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(
                f"sample_weight: expected {expected}, found {int(bad.sum())} that are not "
                f"(first at row {first}: {float(w[first])!r})"
            )
    if w.sum() <= 0:
        raise DataError("sample_weight: expected a positive total weight, found all zeros")
    return w


def _pad_rows(a: np.ndarray, n_pad: int, shards: int = 1) -> np.ndarray:
    """``a`` (checked targets or weights) with zero rows appended up to ``n_pad``, in an aligned buffer, laid
    out in ``shards`` parts as :func:`stage_rows` lays out X."""
    out = _aligned_empty((n_pad, *a.shape[1:]), a.dtype)
    for part, (first, last) in zip(_parts(out, shards), _shares(a.shape[0], shards), strict=True):
        part[: last - first] = a[first:last]
        part[last - first :] = 0
    return out


def _aligned_empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An uninitialised array whose data starts on a 64-byte boundary: XLA's CPU client adopts such host buffers
    without copying them.

    A buffer of ``_SPARE_MIN_BYTES`` or more is one of ``_spares`` where one of its size is free. Such buffers
    come from the kernel as fresh pages, each faulted in and zeroed on first touch: about half the time of
    staging 200k × 50 floats (~7 of 15 ms) that a repeated fit of the same table (a search, the folds of a
    cross-validation) would otherwise pay every time.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    raw = _spare(nbytes + _ALIGN) if nbytes >= _SPARE_MIN_BYTES else np.empty(nbytes + _ALIGN, np.uint8)
    offset = -raw.ctypes.data % _ALIGN
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


_SPARE_MIN_BYTES = 16 << 20  # smaller buffers come back from malloc's heap, whose pages stay mapped
_SPARE_MAX_BYTES = 512 << 20  # the most the spares keep between fits
_spares: list[np.ndarray] = []  # large staging buffers (uint8), most recently used last
_spares_lock = threading.Lock()


def _spare(nbytes: int) -> np.ndarray:
    """A buffer of ``nbytes`` from ``_spares`` that no array uses any more, or a new one kept there for later.

    A buffer is free when the list holds its only reference: every array staged in it (and every JAX array that
    adopted one) is a view whose base is the buffer, so while one lives, the buffer is never handed out again.
    """
    with _spares_lock:
        if _refcounts_tell_use():
            free = _free_spare(nbytes)
            if free is None and any(spare.size == nbytes for spare in _spares):
                # a deleted JAX array lets go of the host buffer it adopted only in JAX's garbage-collection
                # callback: a young-generation collection runs it (well under a millisecond between fits)
                gc.collect(0)
                free = _free_spare(nbytes)
            if free is not None:
                return free
        raw = np.empty(nbytes, np.uint8)
        _spares.append(raw)
        while sum(spare.size for spare in _spares) > _SPARE_MAX_BYTES:
            _spares.pop(0)  # forgotten here; freed when no array uses it
        return raw


def _free_spare(nbytes: int) -> np.ndarray | None:
    """A buffer of ``nbytes`` in ``_spares`` that no array uses, moved to the end of the list; ``None`` if none is."""
    for i in range(len(_spares)):
        # the list's reference and the argument's (a new one, from the subscript): no array's
        if _spares[i].size == nbytes and sys.getrefcount(_spares[i]) == 2:
            _spares.append(_spares.pop(i))
            return _spares[-1]
    return None


@functools.cache
def _refcounts_tell_use() -> bool:
    """Whether this interpreter counts references as :func:`_spare` reads them (CPython does); where it does not,
    no buffer is reused."""
    probe = [np.empty(1, np.uint8)]
    free = sys.getrefcount(probe[0]) == 2
    view = probe[0][:]
    return free and sys.getrefcount(probe[0]) == 3 and view.base is probe[0]


def _all_finite(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is finite: NaN and ±inf make its sum NaN or ±inf (a pairwise sum, faster than
    ``np.isfinite(a).all()`` and without its boolean copy of ``a``); finite values whose sum overflows are told
    apart by an exact check. (A BLAS product would be faster still, but its threads spin after it and slow the
    compiled fit that follows on a machine of few cores.)"""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(a.sum()) or np.isfinite(a).all())
