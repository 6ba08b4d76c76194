"""The compiled loops: full-batch Newton (linear models), L-BFGS, FISTA (for L1) and Optax minibatch epochs.

Every loop is a module-level ``jax.jit`` function whose static argument is a frozen ``Problem`` (model, objective,
optimizer and the few shape-like settings), so equal configurations share compiled code. Each loop runs until a
dynamic ``stop`` iteration/epoch, which lets the trainer call it in chunks to report progress without
recompiling. ``TRACES`` counts how often each loop was traced (the recompilation test reads it).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from fieldguide.core.models import Linear, Model, one_output_product
from fieldguide.core.objectives import Objective
from fieldguide.core.penalties import abs_norm, squared_norm
from fieldguide.core.sparse import SparseRows

TRACES: collections.Counter[str] = collections.Counter()


@dataclasses.dataclass(frozen=True)
class Problem:
    """Everything static about a fit: jit keys its compiled loops on this (by value; an Optax optimizer by
    identity). Penalty strengths are not part of it: they travel as dynamic ``hyper["l2"]``/``hyper["l1"]``, so
    a new alpha (or the estimator layer's per-fold rescaling) reuses compiled code."""

    model: Model
    objective: Objective  # without its penalties
    optimizer: Any  # "newton", "lbfgs", "fista" or an optax.GradientTransformation
    has_l1: bool = False
    batch_size: int = 0
    has_validation: bool = False
    history_len: int = 1
    monitor: str = "loss"  # what early stopping watches: "loss", or the objective's "score"
    shuffle: bool = True  # minibatches of shuffled rows each epoch, or of the rows in order
    shards: int = 1  # devices the rows are split across (data-parallel), each holding an equal part
    schedule: str = "constant"  # an Optax learning rate per epoch: "constant", "invscaling" or "adaptive"

    def outputs(self, params, X):
        # one-output linear models of a row-major X: X @ coef whose gradient is the blocked row sum (faster on
        # XLA's CPU backend); a FeatureMajor X's gradient, T @ g, reads T in order as it is
        if type(self.model) is Linear and params["coef"].shape[1] == 1 and isinstance(X, jax.Array):
            return self.model.apply_with(params, X, one_output_product)
        return self.model.apply(params, X)

    def smooth(self, params, X, y, w, l2):
        """Loss plus the smooth part of the penalties, ``l2/2·||w||²``."""
        mask = self.model.penalized(params)
        return self.objective.loss(self.outputs(params, X), y, w) + 0.5 * l2 * squared_norm(params, mask)

    def total(self, params, X, y, w, l2, l1):
        """The full objective ``loss + Σ penalties`` that the trainer minimises."""
        return self.smooth(params, X, y, w, l2) + l1 * abs_norm(params, self.model.penalized(params))

    def penalty_vector(self, params, strength):
        """Per-coordinate penalty strength over the raveled params (zero on unpenalized leaves)."""
        mask = self.model.penalized(params)
        scaled = jax.tree.map(lambda keep, p: jnp.full(p.shape, keep, p.dtype), mask, params)
        return strength * ravel_pytree(scaled)[0]


def _start(problem: Problem, params, **extra) -> dict:
    """A loop's first carry: the shared bookkeeping (step count, stop flags, loss history) plus ``extra``."""
    dtype = ravel_pytree(params)[0].dtype
    common = {
        "params": params,
        "k": jnp.asarray(0, jnp.int32),
        "done": jnp.asarray(False),
        "converged": jnp.asarray(False),
        "hist": jnp.full((problem.history_len,), jnp.nan, dtype),
    }
    return _strong(common | extra)


def _strong(carry: dict) -> dict:
    """Drop weak types so the loop's output carry has the very type of its input (no retrace on the next chunk)."""
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=a.dtype), carry)


def unstarted(init, problem: Problem, params, data, hyper) -> dict:
    """The carry of a fit's first call to its full-batch loop: ``init``'s in shape, zeros for its values, ``params``
    as given and ``fresh`` set, so that the loop runs ``init`` itself (see :func:`_starts_with`). A first fit in a
    new process then lowers and reads from the cache one program, not two (a first logistic fit: 155 ms, not 164)."""
    shapes = init.eval_shape(problem, params, data, hyper)  # traced once per problem and shapes
    carry = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    return carry | {"params": params, "fresh": np.True_}


def _starts_with(init):
    """Makes a full-batch loop ``run(problem, carry, data, stop, hyper)`` start from ``init(problem, params, data,
    hyper)`` when given an :func:`unstarted` carry, and go on from a carry it returned (a fit run in chunks)."""

    def decorate(run):
        @functools.wraps(run)
        def loop(problem: Problem, carry: dict, data: tuple, stop, hyper: dict) -> dict:
            def start(c):
                return init(problem, c["params"], data, hyper)

            rest = {key: value for key, value in carry.items() if key != "fresh"}
            rest = jax.lax.cond(carry["fresh"], start, _strong, rest)
            return run(problem, rest, data, stop, hyper) | {"fresh": jnp.asarray(False)}

        return loop

    return decorate


def _ftol(dtype) -> float:
    # scipy's L-BFGS-B stop on relative decrease; scikit-learn uses 64·eps in float64, but in float32 that stops
    # a few iterations short of scikit-learn's final loss, while 4·eps is still above the rounding noise
    return 4 * float(jnp.finfo(dtype).eps)


def _converged_by_decrease(before, after, dtype):
    # scipy's test, relative to max(|f|, 1); in float32 without the floor of 1, which makes it an absolute 5e-7 for
    # objectives below 1 (a regression on a standardised target, mean loss 0.03, stopped 2e-5 short of its
    # minimum). In float64 the floor's 9e-16 is far below any tolerance.
    floor = 1.0 if jnp.finfo(dtype).bits == 64 else 0.0
    return (before - after) <= _ftol(dtype) * jnp.maximum(jnp.maximum(jnp.abs(before), jnp.abs(after)), floor)


# ------------------------------------------------------------------------------------------- preconditioning
# A linear model's columns may differ in scale by orders of magnitude (an income beside a ratio) and sit far from
# zero; gradient methods then crawl, and in float32 their line searches stall short of the minimum. L-BFGS and
# FISTA therefore work in standardised coordinates: the solver's ``coef`` is ``scale·coef`` and its intercept
# ``intercept + shift·coef``, for a column ``shift`` (mean; zero without an intercept) and ``scale`` (standard
# deviation) read from a sample of rows. The objective is the very same function of the model's parameters: the
# map only changes the path, so shift and scale need not be exact. Newton works in the same coordinates: its
# Hessian is built from centred blocks of X, since the uncentred one loses a column like a year to rounding in
# float32 (its curvature, ~sd², sits below eps·mean² beside the intercept's).


def preconditioner(
    X: np.ndarray, w: np.ndarray, n_rows: int, fit_intercept: bool, ridge: float = 0.0, rows: int = 1024
) -> dict:
    """``{"shift", "scale"}``: the weighted mean and standard deviation of the columns of ``X[:n_rows]``, from
    about ``rows`` evenly spaced rows (rows of zero weight take no part, so they change nothing here either);
    ``{}`` (no map) when every column is near standard already.

    ``ridge`` (the L2 strength over the loss's curvature) joins each varying column's variance:
    ``scale = sqrt(sd² + ridge)`` makes the diagonal of the penalised objective's Hessian about even (Jacobi's
    preconditioner). Without it a rare column is stretched to unit spread, where the penalty's curvature on it
    (``l2/sd²``) outgrows the data's: 40-fold for a word in one of 160k documents. L-BFGS took 263 iterations on
    ``benchmarks/bench_sparse.py``'s bag of words, 11 with it (59 and 32 on its one-hot table), to the same loss
    to 4 digits.

    For ``SparseRows``, from every row: that costs O(non-zeros), and a sample would miss the rare columns of a
    one-hot table and leave them unscaled (L-BFGS took 344 iterations on ``benchmarks/bench_sparse.py``'s
    50k-row table with a sample, 76 with every row)."""
    step = 1 if isinstance(X, SparseRows) else max(1, n_rows // rows)
    weight = np.asarray(w[:n_rows:step], dtype=np.float64)
    weight = weight if weight.sum() > 0 else np.ones_like(weight)
    # the map changes the parameters only, never X: a sparse X stays sparse, however its columns are centred
    if isinstance(X, SparseRows):
        columns, values, entry_weight = X.entries(weight)
        weighted = entry_weight * values
        mean, second = (
            np.bincount(columns, v, X.shape[1]) / weight.sum() for v in (weighted, weighted * values)
        )
        scale = np.sqrt(np.maximum(second - np.square(mean), 0.0))
    else:
        sample = np.asarray(X[:n_rows:step], dtype=np.float64)
        mean = weight @ sample / weight.sum()
        scale = np.sqrt(weight @ np.square(sample - mean) / weight.sum())
    shift = mean if fit_intercept else np.zeros(X.shape[1])
    scale = np.where(scale > 0, np.sqrt(np.square(scale) + ridge), 1.0)
    if np.all((scale >= 0.25) & (scale <= 4.0) & (np.abs(shift) <= 2.0 * scale)):
        return {}  # near-standard columns (scale beside the intercept's 1, offset): the map would only cost time
    return {"shift": shift.astype(X.dtype), "scale": scale.astype(X.dtype)}


def to_model(params, hyper: dict):
    """The model's parameters from the solver's (see ``preconditioner``); unchanged without ``hyper["scale"]``."""
    if "scale" not in hyper:
        return params
    coef = params["coef"] / hyper["scale"][:, None]
    if "intercept" not in params:
        return {**params, "coef": coef}
    return {**params, "coef": coef, "intercept": params["intercept"] - hyper["shift"] @ coef}


def to_solver(params, hyper: dict):
    """The inverse of :func:`to_model`."""
    if "scale" not in hyper:
        return params
    coef = params["coef"]
    if "intercept" not in params:
        return {**params, "coef": coef * hyper["scale"][:, None]}
    return {
        **params,
        "coef": coef * hyper["scale"][:, None],
        "intercept": params["intercept"] + hyper["shift"] @ coef,
    }


def _solver_penalty(problem: Problem, params, hyper: dict, kind: str):
    """The ``"l1"`` or ``"l2"`` strength of each raveled solver coordinate: a model coefficient is the solver's
    divided by its column's scale, so ``|coef| = |solver coef|/scale`` and ``coef² = solver coef²/scale²`` (the
    intercept, which the shift moves, is never penalised)."""
    strength = problem.penalty_vector(params, hyper[kind])
    if "scale" not in hyper:
        return strength
    per_column = 1 / hyper["scale"] if kind == "l1" else 1 / jnp.square(hyper["scale"])
    units = jax.tree.map(jnp.ones_like, params) | {
        "coef": jnp.broadcast_to(per_column[:, None], params["coef"].shape)
    }
    return strength * ravel_pytree(units)[0]


# ---------------------------------------------------------------------------------------------------- Newton


def _newton_system(problem: Problem, eta, X, y, w, hyper: dict):
    """Mean loss of a one-output ``Linear`` model at outputs ``eta``, with its gradient and Hessian in the
    solver's raveled parameters ``[coef..., intercept]`` (see ``preconditioner``), before penalties.

    The loss is a weighted mean of per-row losses of ``eta``, so the Hessian is ``Xa^T diag(w·l''/W) Xa`` with
    ``Xa`` the standardised X and a column of ones: one matrix product over X per Newton step. Per-row second
    derivatives are clipped at zero (a Gauss-Newton step where a loss is not convex, e.g. Tweedie with
    power > 2): that changes the path, never the solution.
    """
    total = jnp.sum(w)

    def summed(e):
        return jnp.sum(w * problem.objective.per_row(e, y)) / total

    grad_fn = jax.grad(summed)
    g = grad_fn(eta)[:, 0]  # rows are independent: the gradient of the sum holds each row's derivative
    h = jnp.maximum(jax.jvp(grad_fn, (eta,), (jnp.ones_like(eta),))[1][:, 0], 0.0)
    grad, cross, hess = _newton_products(X, g, h, hyper.get("shift"), hyper.get("scale"), problem.shards)
    if problem.model.fit_intercept:
        grad = jnp.append(grad, jnp.sum(g))
        hess = jnp.block([[hess, cross[:, None]], [cross[None, :], jnp.sum(h)[None, None]]])
    return summed(eta), grad, hess


def _newton_products(X, g, h, shift=None, scale=None, shards: int = 1, block: int = 8192):
    """``(g @ S, h @ S, S^T diag(h) S)`` for ``S`` the standardised X, in one pass over blocks of rows: no copy of
    X beyond one block (a whole ``X - shift`` is loop-invariant, and XLA would hoist it out of the Newton loop as
    one more X; taking the shift off afterwards instead costs float32 the precision centring is for). With ``h``
    None, only ``(g @ S,)``.

    The trainer's row buckets above ``block`` rows are multiples of 1024 or more (an eighth of n's leading power
    of two), so they split into equal blocks of ``gcd(n, block)`` rows; other row counts take one pass. Rows
    split across ``shards`` devices are blocked within each device's part, and every device sums its own blocks
    in step (a scan over the sharded rows themselves would gather them onto each device).
    """
    n, d = X.shape
    local = n // shards
    rows = math.gcd(local, block)

    def products(Xb, gb, hb):
        Sb = Xb if scale is None else (Xb - shift) / scale
        if hb is None:
            return (gb @ Sb,)
        return gb @ Sb, hb @ Sb, jax.lax.dot_general(Sb * hb[:, None], Sb, (((0,), (0,)), ((), ())))

    if local <= block or rows < 512:
        return products(X, g, h)
    parts = (
        X.reshape(shards, -1, rows, d),
        g.reshape(shards, -1, rows),
        h if h is None else h.reshape(shards, -1, rows),
    )

    def add(total, i):
        sums = jax.vmap(products)(*(a if a is None else a[:, i] for a in parts))
        return jax.tree.map(jnp.add, total, sums), None

    zeros = (jnp.zeros((shards, d), X.dtype),) + (
        () if h is None else (jnp.zeros((shards, d), X.dtype), jnp.zeros((shards, d, d), X.dtype))
    )
    totals = jax.lax.scan(add, zeros, jnp.arange(local // rows))[0]
    return tuple(jnp.sum(t, axis=0) for t in totals)


@functools.partial(jax.jit, static_argnames=("problem",))
def newton_init(problem: Problem, params, data, hyper) -> dict:
    return _start(problem, params)


@functools.partial(jax.jit, static_argnames=("problem",))
@_starts_with(newton_init)
def newton_run(problem: Problem, carry: dict, data: tuple, stop, hyper: dict) -> dict:
    """Damped Newton: the Hessian's pseudo-inverse applied to the gradient, Armijo backtracking along the step.

    Trial points cost no pass over X: the outputs ``eta + t·(Xa @ step)`` are linear in ``t``. A step that is not
    a descent direction (a singular or indefinite Hessian) falls back to the negative gradient.
    """
    TRACES["newton"] += 1
    X, y, w = data
    theta0, unravel = ravel_pytree(carry["params"])
    pen = _solver_penalty(problem, carry["params"], hyper, "l2")
    total = jnp.sum(w)
    eps = jnp.finfo(theta0.dtype).eps

    def outputs(theta):  # linear in theta: X @ coef + intercept with the model's parameters
        params = to_model(unravel(theta), hyper)
        return X @ params["coef"] + params.get("intercept", 0.0)

    def value_at(theta, eta):
        return jnp.sum(w * problem.objective.per_row(eta, y)) / total + 0.5 * pen @ jnp.square(theta)

    def body(c):
        theta = ravel_pytree(c["params"])[0]
        eta = outputs(theta)
        loss, grad, hess = _newton_system(problem, eta, X, y, w, hyper)
        value, grad, hess = loss + 0.5 * pen @ jnp.square(theta), grad + pen * theta, hess + jnp.diag(pen)
        # pseudo-inverse of the Jacobi-scaled Hessian: scaling by 1/sqrt(diag) first makes the columns' units
        # irrelevant (float32 would otherwise drop the curvature of small-scale columns as rounding noise);
        # directions of (numerically) zero or negative curvature are dropped, so from a zero start an unpenalised
        # rank-deficient fit stays in X's row space and ends at the minimum-norm solution, as lstsq's does
        diag = jnp.diag(hess)
        scale = jnp.where(diag > 0, jax.lax.rsqrt(jnp.where(diag > 0, diag, 1.0)), 0.0)
        evals, evecs = jnp.linalg.eigh(hess * scale[:, None] * scale[None, :])
        keep = evals > hess.shape[0] * eps * jnp.max(jnp.abs(evals))
        inverse = jnp.where(keep, 1.0 / jnp.where(keep, evals, 1.0), 0.0)
        step = -scale * (evecs @ (inverse * (evecs.T @ (scale * grad))))
        bad = ~jnp.all(jnp.isfinite(step)) | (grad @ step >= 0)
        step = jnp.where(bad, -grad, step)
        slope, move = grad @ step, outputs(step)  # outputs are linear in theta
        # the step's predicted decrease is within the value's rounding: the line search cannot judge it (in
        # float32 it halved such steps, stopping with coefficients ~sqrt(eps) off), yet the step, computed from
        # the gradient, is accurate; it is taken whole and is the last
        trial = value_at(theta + step, eta + move)
        last = ~bad & _converged_by_decrease(value, value + slope, theta.dtype) & jnp.isfinite(trial)

        def too_high(s):
            t, v = s
            return ~last & ~(v <= value + 1e-4 * t * slope) & (t > 1e-10)

        def halve(s):
            t = s[0] / 2
            return t, value_at(theta + t * step, eta + t * move)

        one = jnp.asarray(1.0, theta.dtype)
        t, new_value = jax.lax.while_loop(too_high, halve, (one, trial))
        accepted = last | (new_value <= value + 1e-4 * t * slope)
        small_grad = jnp.max(jnp.abs(grad)) <= hyper["tol"]
        moved = accepted & ~small_grad
        # converged: a small gradient, a last step, a relative decrease at rounding level, or no decrease left
        converged = small_grad | last | ~accepted | _converged_by_decrease(value, new_value, theta.dtype)
        new_value = jnp.where(moved, new_value, value)
        return {
            "params": unravel(jnp.where(moved, theta + t * step, theta)),
            "k": c["k"] + 1,
            "done": converged | ~jnp.isfinite(new_value),
            "converged": converged,
            "hist": c["hist"].at[c["k"]].set(new_value),
        }

    return jax.lax.while_loop(lambda c: ~c["done"] & (c["k"] < stop), body, carry)


# ---------------------------------------------------------------------------------------------------- L-BFGS


def _lbfgs_parts():
    """``optax.lbfgs()``'s two halves: the L-BFGS direction and the zoom line search along it."""
    return optax.scale_by_lbfgs(), optax.scale_by_zoom_linesearch(
        max_linesearch_steps=20, initial_guess_strategy="one"
    )


@functools.partial(jax.jit, static_argnames=("problem",))
def lbfgs_init(problem: Problem, params, data, hyper) -> dict:
    memory, search = _lbfgs_parts()
    state = {"memory": memory.init(params), "search": search.init(params)}
    return _start(problem, params, state=state, n_fun=jnp.asarray(0, jnp.int32))


@functools.partial(jax.jit, static_argnames=("problem",))
@_starts_with(lbfgs_init)
def lbfgs_run(problem: Problem, carry: dict, data: tuple, stop, hyper: dict) -> dict:
    """``optax.lbfgs`` in a ``while_loop``, stopped by a small gradient or by SciPy's relative-decrease test.

    A float32 fit of a convex linear problem also stops where the decrease the L-BFGS model predicts for the next step
    would not count by that test: at float32's rounding of the objective, a gradient tolerance is seldom reached
    and the step that SciPy's test waits for moves the loss by less than it can tell. In float64 the gradient
    test decides: a loss within 1e-15 of its minimum still leaves coefficients 1e-7 from theirs."""
    TRACES["lbfgs"] += 1
    X, y, w = data

    def fun(params):
        return problem.smooth(to_model(params, hyper), X, y, w, hyper["l2"])

    memory, search = _lbfgs_parts()
    dtype = ravel_pytree(carry["params"])[0].dtype
    linear = type(problem.model) is Linear
    predicts = linear and problem.objective.convex and jnp.finfo(dtype).bits == 32

    def body(c):
        value, grad = optax.value_and_grad_from_state(fun)(c["params"], state=c["state"]["search"])
        direction, remembered = memory.update(grad, c["state"]["memory"], c["params"])
        # optax's first step is the gradient times min(1, 1/|g|), at most 1 long. A linear model's curvature in
        # the solver's standardised coordinates is about the objective's bound on it (log loss: 1/4), so its first
        # step is the gradient times min(1/bound, 1/|g|): the minimum of the quadratic that bound lays over the
        # loss, still at most 1 long. A logistic fit went a quarter as far, and took one iteration more (5 where it
        # takes 4 on bench_glm's problem)
        if linear:
            norm = optax.tree.norm(grad)
            first = jnp.minimum(1.0 / problem.objective.curvature, 1.0 / norm) / jnp.minimum(1.0, 1.0 / norm)
            direction = jax.tree.map(
                lambda d: jnp.where(c["k"] == 0, first, 1.0).astype(d.dtype) * d, direction
            )
        direction = jax.tree.map(jnp.negative, direction)

        def step(_):
            updates, found = search.update(
                direction, c["state"]["search"], c["params"], value=value, grad=grad, value_fn=fun
            )
            n_steps = optax.tree_utils.tree_get(found, "num_linesearch_steps").astype(jnp.int32)
            return optax.apply_updates(c["params"], updates), found, n_steps

        settled = jnp.asarray(False)
        if predicts:

            def stay(_):
                return c["params"], c["state"]["search"], jnp.zeros((), jnp.int32)

            # the quadratic model's decrease to its minimum, -g·d/2: once the memory holds a step (k > 0) this is
            # what the next step would bring, and a step too small to count need not be taken (nor paid for)
            predicted = -0.5 * optax.tree.vdot(grad, direction)
            decrease = _converged_by_decrease(value, value - predicted, dtype)
            settled = (c["k"] > 0) & (predicted > 0) & decrease
            params, found, n_steps = jax.lax.cond(settled, stay, step, None)
        else:
            params, found, n_steps = step(None)
        new_value = optax.tree_utils.tree_get(found, "value")
        new_grad = optax.tree_utils.tree_get(found, "grad")
        small_grad = optax.tree_utils.tree_max(jax.tree.map(jnp.abs, new_grad)) <= hyper["tol"]
        converged = settled | small_grad | _converged_by_decrease(value, new_value, dtype)
        # evaluations, as SciPy counts them: the first one (value_and_grad_from_state's) and each line-search step
        n_fun = c["n_fun"] + (c["n_fun"] == 0) + n_steps
        return {
            "params": params,
            "state": {"memory": remembered, "search": found},
            "k": c["k"] + (~settled),
            "done": converged | ~jnp.isfinite(new_value) | (n_fun >= hyper["max_fun"]),
            "converged": converged,
            "hist": jnp.where(settled, c["hist"], c["hist"].at[c["k"]].set(new_value)),
            "n_fun": n_fun.astype(jnp.int32),
        }

    return jax.lax.while_loop(lambda c: ~c["done"] & (c["k"] < stop), body, carry)


# ---------------------------------------------------------------------------------------------------- FISTA


@functools.partial(jax.jit, static_argnames=("problem",))
def fista_init(problem: Problem, params, data, hyper) -> dict:
    X, y, w = data
    flat = ravel_pytree(params)[0]
    return _start(
        problem,
        params,
        y=flat,
        t=jnp.asarray(1.0, flat.dtype),
        lipschitz=jnp.asarray(1.0, flat.dtype),
        value=problem.total(to_model(params, hyper), X, y, w, hyper["l2"], hyper["l1"]),
    )


@functools.partial(jax.jit, static_argnames=("problem",))
@_starts_with(fista_init)
def fista_run(problem: Problem, carry: dict, data: tuple, stop, hyper: dict) -> dict:
    """Accelerated proximal gradient with backtracking and function-value restart (O'Donoghue & Candès)."""
    TRACES["fista"] += 1
    X, y, w = data
    x0, unravel = ravel_pytree(carry["params"])
    lam = _solver_penalty(problem, carry["params"], hyper, "l1")
    eps = jnp.finfo(x0.dtype).eps

    def f(v):
        return problem.smooth(to_model(unravel(v), hyper), X, y, w, hyper["l2"])

    def prox(v, lipschitz):
        return jnp.sign(v) * jnp.maximum(jnp.abs(v) - lam / lipschitz, 0.0)

    def body(c):
        x = ravel_pytree(c["params"])[0]
        fy, gy = jax.value_and_grad(f)(c["y"])

        def too_big(s):  # the quadratic model at y must upper-bound f at the prox point
            p, fp, lipschitz = s
            d = p - c["y"]
            bound = fy + gy @ d + 0.5 * lipschitz * (d @ d)
            return (fp > bound + 10 * eps * jnp.abs(fy)) & (lipschitz < 1e30)

        def grow(s):
            lipschitz = 2.0 * s[2]
            p = prox(c["y"] - gy / lipschitz, lipschitz)
            return p, f(p), lipschitz

        lipschitz0 = 0.9 * c["lipschitz"]
        p0 = prox(c["y"] - gy / lipschitz0, lipschitz0)
        p, fp, lipschitz = jax.lax.while_loop(too_big, grow, (p0, f(p0), lipschitz0))
        value = fp + lam @ jnp.abs(p)
        restart = value > c["value"]
        t_next = jnp.where(restart, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * c["t"] ** 2)))
        x_next = jnp.where(restart, x, p)
        y_next = jnp.where(restart, x, p + ((c["t"] - 1.0) / t_next) * (p - x))
        value_next = jnp.where(restart, c["value"], value)
        mapping = lipschitz * jnp.max(jnp.abs(c["y"] - p))  # norm of the gradient mapping
        # a change within rounding, either way: at the minimum a rounding-level rise restarts, and every restart
        # after it rose again, until max_iter
        stalled = _converged_by_decrease(c["value"], value, x0.dtype) & _converged_by_decrease(
            value, c["value"], x0.dtype
        )
        converged = (mapping <= hyper["tol"]) | stalled
        return {
            "params": unravel(x_next),
            "y": y_next,
            "t": t_next,
            "lipschitz": lipschitz,
            "value": value_next,
            "k": c["k"] + 1,
            "done": converged | ~jnp.isfinite(value_next),
            "converged": converged,
            "hist": c["hist"].at[c["k"]].set(value_next),
        }

    return jax.lax.while_loop(lambda c: ~c["done"] & (c["k"] < stop), body, carry)


# -------------------------------------------------------------------------------------------- interior point
# Pinball loss plus L1 on a one-output ``Linear`` model is a linear program, solved exactly (as scikit-learn's
# QuantileRegressor does with HiGHS) by a primal-dual interior point method with Mehrotra's predictor-corrector,
# after Portnoy & Koenker (1997). It works on the dual, in the solver's standardised coordinates ``Xa`` (with a
# column of ones for the intercept):
#
#     max  y·a   subject to   Xa^T a + p - m = (1 - q)·Xa^T w,   0 <= a <= w,   0 <= p, m <= W·λ
#
# where ``p`` and ``m`` carry each coefficient's L1 penalty ``λ_j·|θ_j|`` (scaled by the total weight ``W``,
# since the loss is a weighted mean) and the equality's multipliers are minus the coefficients ``θ``. Variables
# whose upper bound is zero (padded rows, unpenalised coefficients) take no part. Each step solves one d×d
# system ``Xa^T Θ Xa + diag(Θ_p + Θ_m)`` built in a pass over X, as a Newton step does; it stops when the
# duality gap, relative to the objective, is at most ``tol`` at a point that meets the equality to the dtype's
# precision: tens of steps, whatever n.


def _lp_operators(problem: Problem, unravel, hyper: dict, X):
    """``Xa @ θ`` and ``Xa^T v`` (and, given ``h``, ``Xa^T diag(h) Xa``) for the standardised design ``Xa``."""
    intercept = problem.model.fit_intercept

    def design(theta):
        params = to_model(unravel(theta), hyper)
        return X @ params["coef"][:, 0] + params.get("intercept", jnp.zeros(1, X.dtype))[0]

    def transposed(v, h=None):
        parts = _newton_products(X, v, h, hyper.get("shift"), hyper.get("scale"), problem.shards)
        vS = jnp.append(parts[0], jnp.sum(v)) if intercept else parts[0]
        if h is None:
            return vS
        hS, hess = parts[1:]
        return vS, jnp.block(
            [[hess, hS[:, None]], [hS[None, :], jnp.sum(h)[None, None]]]
        ) if intercept else hess

    return design, transposed


def _lp_bounds(problem: Problem, params, y, w, hyper: dict):
    """The LP's upper bounds ``[w, W·λ, W·λ]``, which of them are active (> 0), and its costs ``[-y, 0, 0]``."""
    omega = _solver_penalty(problem, params, hyper, "l1") * jnp.sum(w)
    upper = jnp.concatenate([w, omega, omega])
    return upper, upper > 0, jnp.concatenate([-y[:, 0], jnp.zeros(2 * omega.size, w.dtype)])


@functools.partial(jax.jit, static_argnames=("problem",))
def interior_init(problem: Problem, params, data, hyper) -> dict:
    X, y, w = data
    theta, unravel = ravel_pytree(params)
    upper, active, cost = _lp_bounds(problem, params, y, w, hyper)
    q = problem.objective.quantile
    _, transposed = _lp_operators(problem, unravel, hyper, X)
    # a = (1 - q)·w (and p = m) meets the equality exactly; from θ = 0 the reduced costs are y (zero for p, m),
    # split into positive parts shifted away from the bound so that both start strictly inside
    shift = 0.1 * jnp.maximum(1.0, jnp.sum(jnp.where(active, jnp.abs(cost), 0.0)) / jnp.sum(active))
    return _start(
        problem,
        unravel(jnp.zeros_like(theta)),
        x=jnp.where(active, (1 - q) * upper, 0.0),
        s=jnp.where(active, q * upper, 0.0),
        z=jnp.where(active, jnp.maximum(cost, 0.0) + shift, 1.0),
        v=jnp.where(active, jnp.maximum(-cost, 0.0) + shift, 1.0),
        rhs=(1 - q) * transposed(w),
        eta=jnp.zeros_like(w),
        primal=jnp.zeros_like(theta),  # the equality's residual, zero at this start
    )


@functools.partial(jax.jit, static_argnames=("problem",))
@_starts_with(interior_init)
def interior_run(problem: Problem, carry: dict, data: tuple, stop, hyper: dict) -> dict:
    TRACES["interior_point"] += 1
    X, y, w = data
    theta0, unravel = ravel_pytree(carry["params"])
    n, d = w.shape[0], theta0.size
    lam = _solver_penalty(problem, carry["params"], hyper, "l1")
    upper, active, cost = _lp_bounds(problem, carry["params"], y, w, hyper)
    q, eps = problem.objective.quantile, jnp.finfo(theta0.dtype).eps
    design, transposed = _lp_operators(problem, unravel, hyper, X)

    def safe(a):
        return jnp.where(active, a, 1.0)

    def constraint(a):  # the equality's left side: Xa^T a + p - m
        return transposed(a[:n]) + a[n : n + d] - a[n + d :]

    def longest(value, change):  # the largest step in [0, 1] keeping value + step·change >= 0
        blocking = active & (change < 0)
        return jnp.minimum(1.0, jnp.min(jnp.where(blocking, -value / jnp.where(blocking, change, -1.0), 1.0)))

    def objective(eta, theta):
        r = y[:, 0] - eta
        return jnp.sum(w * jnp.maximum(q * r, (q - 1) * r)) / jnp.sum(w) + lam @ jnp.abs(theta)

    def finish(c):
        """The converged point, with exact zeros where the dual says a coefficient is zero: its L1 slack ``p - m``
        strictly inside ``±W·λ`` (an interior point leaves such coefficients at about the gap, not at 0), kept
        only if the objective does not rise by more than a tenth of ``tol``."""
        theta, p, m = ravel_pytree(c["params"])[0], c["x"][n : n + d], c["x"][n + d :]
        zero = active[n : n + d] & (jnp.abs(p - m) < 0.9 * upper[n : n + d])
        sparse = jnp.where(zero, 0.0, theta)
        eta = design(sparse)
        value, before = objective(eta, sparse), objective(c["eta"], theta)
        keep = value <= before + 0.1 * hyper["tol"] * jnp.abs(before)
        return c | {"params": unravel(jnp.where(keep, sparse, theta)), "eta": jnp.where(keep, eta, c["eta"])}

    def body(c):
        x, s, z, v, eta, primal = c["x"], c["s"], c["z"], c["v"], c["eta"], c["primal"]
        theta = ravel_pytree(c["params"])[0]
        dual = jnp.where(active, cost - jnp.concatenate([-eta, -theta, theta]) - z + v, 0.0)
        theta_ = jnp.where(active, 1 / (z / safe(x) + v / safe(s)), 0.0)
        rho_affine = dual + z - v  # the affine step's right side, see solve
        data_part, hess = transposed(theta_[:n] * rho_affine[:n], theta_[:n])
        system = hess + jnp.diag(theta_[n : n + d] + theta_[n + d :])
        scale = jax.lax.rsqrt(jnp.maximum(jnp.diag(system), jnp.finfo(theta0.dtype).tiny))
        factor = jax.scipy.linalg.cho_factor(system * scale[:, None] * scale + 10 * d * eps * jnp.eye(d))

        def solve(r_xz, r_sv, projected=None):
            rho = dual - r_xz / safe(x) + r_sv / safe(s)
            product = theta_ * rho
            if projected is None:
                projected = transposed(product[:n])
            projected = projected + product[n : n + d] - product[n + d :]
            dy = scale * jax.scipy.linalg.cho_solve(factor, scale * (primal + projected))
            design_dy = design(dy)
            dx = jnp.where(active, theta_ * (jnp.concatenate([design_dy, dy, -dy]) - rho), 0.0)
            dz = jnp.where(active, (r_xz - z * dx) / safe(x), 0.0)
            dv = jnp.where(active, (r_sv + v * dx) / safe(s), 0.0)
            return dx, dy, dz, dv, design_dy

        count = jnp.sum(active)
        mu = jnp.sum(jnp.where(active, x * z + s * v, 0.0)) / (2 * count)
        dx, _, dz, dv, _ = solve(-x * z, -s * v, projected=data_part)
        step_p = jnp.minimum(longest(x, dx), longest(s, -dx))
        step_d = jnp.minimum(longest(z, dz), longest(v, dv))
        xz = (x + step_p * dx) * (z + step_d * dz) + (s - step_p * dx) * (v + step_d * dv)
        sigma = (jnp.sum(jnp.where(active, xz, 0.0)) / (2 * count) / mu) ** 3
        dx, dy, dz, dv, design_dy = solve(sigma * mu - x * z - dx * dz, sigma * mu - s * v + dx * dv)
        step_p = 0.99995 * jnp.minimum(longest(x, dx), longest(s, -dx))
        step_d = 0.99995 * jnp.minimum(longest(z, dz), longest(v, dv))
        x, s = x + step_p * dx, s - step_p * dx
        z, v = z + step_d * dz, v + step_d * dv
        theta, eta = theta - step_d * dy, eta - step_d * design_dy  # θ is minus the equality's multipliers
        value = objective(eta, theta)
        gap = jnp.sum(jnp.where(active, x * z + s * v, 0.0)) / jnp.sum(w)
        primal = c["rhs"] - constraint(x)
        # converged: a gap relative to the objective (down to a floor at the dtype's precision, for an objective
        # near 0 when the fit interpolates its rows) at a point that meets the equality, which rounding in the
        # d×d solves can break in float32 while the gap still shrinks
        size = jnp.maximum(jnp.max(jnp.abs(c["rhs"])), jnp.max(x[n:], initial=0.0))  # p, m: up to W·λ
        converged = (gap <= hyper["tol"] * jnp.maximum(jnp.abs(value), jnp.sqrt(eps))) & (
            jnp.max(jnp.abs(primal)) <= jnp.sqrt(eps) * (1.0 + size)
        )
        stalled = jnp.maximum(step_p, step_d) < 1e-9
        new = c | {
            "params": unravel(theta),
            "x": x, "s": s, "z": z, "v": v, "eta": eta, "primal": primal,
            "k": c["k"] + 1,
            "done": converged | stalled,
            "converged": converged,
            "hist": c["hist"].at[c["k"]].set(value),
        }  # fmt: skip
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(theta)) & jnp.isfinite(gap)
        # past the dtype's precision (tol = 0, or a penalty beyond its range) a step can return NaN: the last
        # finite point stays, and the fit stops unconverged
        new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, c | {"done": True})
        return jax.lax.cond(new["converged"], finish, lambda c: c, new)

    return jax.lax.while_loop(lambda c: ~c["done"] & (c["k"] < stop), body, carry)


# ---------------------------------------------------------------------------------------------------- Optax


@functools.partial(jax.jit, static_argnames=("problem",))
def optax_init(problem: Problem, params, data, hyper, seed) -> dict:
    dtype = ravel_pytree(params)[0].dtype
    return _start(
        problem,
        params,
        state=problem.optimizer.init(params),
        key=jax.random.fold_in(jax.random.key(seed), 1),  # shuffling; init_params uses fold 0
        val_hist=jnp.full((problem.history_len,), jnp.nan, dtype),
        val_score=jnp.full((problem.history_len,), jnp.nan, dtype),
        best_params=params,
        best=jnp.asarray(jnp.inf, dtype),
        best_epoch=jnp.asarray(0, jnp.int32),
        bad_epochs=jnp.asarray(0, jnp.int32),
    )


def _l1_pseudo_gradient(grad, params, lam):
    """OWL-QN's minimum-norm subgradient of ``smooth + lam·|w|``: zero where a zero weight should stay zero."""
    at_zero = jnp.sign(grad) * jnp.maximum(jnp.abs(grad) - lam, 0.0)
    return jnp.where(params != 0, grad + lam * jnp.sign(params), at_zero)


def _orthant_project(new, old, pseudo_grad):
    """Zero every weight that left the orthant it started in (the prox step's exact zeros)."""
    orthant = jnp.where(old != 0, jnp.sign(old), -jnp.sign(pseudo_grad))
    return jnp.where(jnp.sign(new) == orthant, new, 0.0)


_FEISTEL_ROUNDS = 4


def _mix32(x):
    """A 32-bit integer hash with full avalanche (Wellons' lowbias32): the Feistel rounds' function."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x7FEB352D)
    x = (x ^ (x >> 15)) * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _shuffled(key, n_rows, n_pad: int):
    """A pseudo-random order of the first ``n_rows`` of ``range(n_pad)``, the rest in place after them.

    A keyed Feistel network is a bijection on the even power of two at or above ``n_rows`` (at most 4·n_rows, so
    that a walk takes a few steps however much padding follows); walking each index's cycle until it lands below
    ``n_rows`` makes it one on ``range(n_rows)`` (Black & Rogaway's cycle walking). It is elementwise: 2 ms for
    160,000 rows on two cores, where sorting random keys took 36 ms, the slowest op of a whole epoch.
    """
    n = jnp.asarray(n_rows).astype(jnp.uint32)
    bits = jnp.maximum(2, 32 - jax.lax.clz(jnp.maximum(n, 2) - 1))
    half = ((bits + 1) // 2).astype(jnp.uint32)
    mask = (jnp.uint32(1) << half) - 1
    round_keys = jax.random.bits(key, (_FEISTEL_ROUNDS,), jnp.uint32)

    def feistel(x):
        left, right = x >> half, x & mask
        for r in range(_FEISTEL_ROUNDS):
            left, right = right, left ^ (_mix32(right ^ round_keys[r]) & mask)
        return (left << half) | right

    index = jnp.arange(n_pad, dtype=jnp.uint32)
    real = index < n

    def outside(x):
        return real & (x >= n)

    walked = jax.lax.while_loop(
        lambda x: jnp.any(outside(x)), lambda x: jnp.where(outside(x), feistel(x), x), feistel(index)
    )
    return jnp.where(real, walked, index).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("problem",))
def optax_run(problem: Problem, carry: dict, data: tuple, stop, hyper: dict) -> dict:
    """Minibatch epochs: each epoch is one ``lax.scan`` over batches of shuffled row indices (``_shuffled``).

    The rows lie in ``problem.shards`` equal parts, one per device, each led by its real rows
    (``hyper["shard_rows"]`` of them); every part is shuffled on its own, and a batch takes an equal slice of
    each part's order, so no device reads another's rows. Batches past every part's real rows are skipped.
    ``hyper["patience"] < 0`` disables early stopping; otherwise the monitored loss (validation if any, else
    training), or with ``problem.monitor == "score"`` the validation score, must improve by ``hyper["tol"]``
    within that many epochs.

    ``problem.schedule`` sets the learning rate in the optimizer's state (``optax.inject_hyperparams``) at the end
    of each epoch, as scikit-learn's SGD does: ``"invscaling"`` to ``lr_init / (t + 1) ** power_t`` after ``t``
    training rows (``hyper["seen"]`` before this fit), ``"adaptive"`` divides it by 5 where early stopping would
    stop, and stops once it is at most 1e-6.
    """
    TRACES["optax"] += 1
    X, y, w, Xv, yv, wv = data
    shards = problem.shards
    part, bs = X.shape[0] // shards, problem.batch_size // shards  # rows and batch rows on each device
    n_batches = part // bs
    parts = None  # X (an array or SparseRows), y and w with a leading axis of devices
    if shards > 1:
        parts = [jax.tree.map(lambda a: a.reshape(shards, part, *a.shape[1:]), a) for a in (X, y, w)]
    x0, unravel = ravel_pytree(carry["params"])
    shard_rows, patience, tol, l2 = hyper["shard_rows"], hyper["patience"], hyper["tol"], hyper["l2"]
    lam = _solver_penalty(problem, carry["params"], hyper, "l1")
    optimizer = optax.with_extra_args_support(problem.optimizer)

    def smooth(params, X, y, w):
        return problem.smooth(to_model(params, hyper), X, y, w, l2)

    def batch_step(state, batch):
        i, idx = batch

        def step(state):
            params, opt_state = state

            def rows(a, at):  # the order holds valid, distinct indices: no bounds handling
                if isinstance(a, SparseRows):  # with its rows' overflow lines, if any
                    return a.take(at)
                return a.at[at].get(mode="promise_in_bounds", unique_indices=True)

            def joined(a):  # (shards, bs, ...) -> (shards·bs, ...)
                return jax.tree.map(lambda b: b.reshape(-1, *b.shape[2:]), a)

            if shards == 1:  # the plain gather: under a vmap over one part an epoch took ~5 % longer
                Xb, yb, wb = (rows(a, idx[0]) for a in (X, y, w))
            else:
                Xb, yb, wb = (joined(jax.vmap(rows)(a, idx)) for a in parts)
            value, grad = jax.value_and_grad(smooth)(params, Xb, yb, wb)
            if problem.has_l1:
                flat_p, flat_g = ravel_pytree(params)[0], ravel_pytree(grad)[0]
                pseudo = _l1_pseudo_gradient(flat_g, flat_p, lam)
                grad = unravel(pseudo)
            # line-search transformations (optax.lbfgs()) read the batch's value and re-evaluate it; others ignore
            updates, opt_state = optimizer.update(
                grad, opt_state, params, value=value, grad=grad, value_fn=lambda p: smooth(p, Xb, yb, wb)
            )
            new = optax.apply_updates(params, updates)
            if problem.has_l1:
                new = unravel(_orthant_project(ravel_pytree(new)[0], flat_p, pseudo))
            return (new, opt_state), value * jnp.sum(wb)

        return jax.lax.cond(i * bs < jnp.max(shard_rows), step, lambda s: (s, jnp.zeros((), x0.dtype)), state)

    def epoch(c):
        key, sub = jax.random.split(c["key"])
        if not problem.shuffle:
            order = jnp.broadcast_to(jnp.arange(part, dtype=jnp.int32), (shards, part))
        elif shards == 1:
            order = _shuffled(sub, shard_rows[0], part)[None]
        else:
            order = jax.vmap(_shuffled, in_axes=(0, 0, None))(jax.random.split(sub, shards), shard_rows, part)
        batches = order.reshape(shards, n_batches, bs).swapaxes(0, 1)  # batch i: (shards, bs) row numbers
        (params, state), weighted = jax.lax.scan(
            batch_step, (c["params"], c["state"]), (jnp.arange(n_batches), batches)
        )
        train_loss = jnp.sum(weighted) / jnp.sum(w)
        if problem.has_l1:
            train_loss = train_loss + lam @ jnp.abs(ravel_pytree(params)[0])
        val_loss, val_score = train_loss, jnp.asarray(jnp.nan, train_loss.dtype)
        if problem.has_validation:
            outputs = problem.outputs(to_model(params, hyper), Xv)
            val_loss = problem.objective.loss(outputs, yv, wv)
            val_score = problem.objective.score(outputs, yv, wv).astype(train_loss.dtype)
        watched = -val_score if problem.monitor == "score" else val_loss  # lower is better
        # scikit-learn's rule: the count restarts on an improvement by tol, the best moves on any improvement
        improved, better = watched <= c["best"] - tol, watched < c["best"]
        bad = jnp.where(improved, 0, c["bad_epochs"] + 1)
        stopped = (patience >= 0) & (bad >= patience)
        if problem.schedule != "constant":
            state, stopped, bad = _scheduled(problem.schedule, state, stopped, bad, c["k"] + 1, hyper)
        return {
            "params": params,
            "state": state,
            "key": key,
            "k": c["k"] + 1,
            "done": stopped | ~jnp.isfinite(train_loss),
            "converged": stopped,
            "hist": c["hist"].at[c["k"]].set(train_loss),
            "val_hist": c["val_hist"].at[c["k"]].set(val_loss),
            "val_score": c["val_score"].at[c["k"]].set(val_score),
            "best_params": jax.tree.map(lambda a, b: jnp.where(better, a, b), params, c["best_params"]),
            "best": jnp.where(better, watched, c["best"]),
            "best_epoch": jnp.where(better, c["k"] + 1, c["best_epoch"]),
            "bad_epochs": bad,
        }

    return jax.lax.while_loop(lambda c: ~c["done"] & (c["k"] < stop), epoch, carry)


def _scheduled(schedule: str, state, stopped, bad, epochs, hyper: dict):
    """The optimizer state with the next epoch's learning rate, and the stop flag and bad-epoch count after it."""
    rate = state.hyperparams["learning_rate"]
    if schedule == "invscaling":
        seen = hyper["seen"] + epochs * jnp.sum(hyper["shard_rows"]).astype(hyper["seen"].dtype)
        new = hyper["lr_init"] / jnp.power(seen + 1.0, hyper["power_t"])
    else:  # adaptive: a plateau divides the rate by 5 instead of stopping, until it is at most 1e-6
        reduce = stopped & (rate > 1e-6)
        new, stopped, bad = jnp.where(reduce, rate / 5, rate), stopped & ~reduce, jnp.where(reduce, 0, bad)
    hyperparams = {**state.hyperparams, "learning_rate": new.astype(rate.dtype)}
    return state._replace(hyperparams=hyperparams), stopped, bad


def init_params(model: Model, seed, n_features: int, n_outputs: int, dtype: str):
    """``model.init`` cast to ``dtype``: compiled once (eager random ops would each compile on a first fit), or
    for a ``Linear`` model, whose start is zero, NumPy's zeros in its shapes (a program fewer for a first fit in a
    new process to lower and read from the cache)."""
    if type(model) is Linear:
        return jax.tree.map(lambda s: np.zeros(s.shape, dtype), _linear_shapes(model, n_features, n_outputs))
    return _compiled_init(model, seed, n_features, n_outputs, dtype)


@functools.lru_cache(maxsize=64)
def _linear_shapes(model: Linear, n_features: int, n_outputs: int):
    """The shapes of ``model.init``'s parameters: tracing it took 2-3 ms, a tenth of a warm fit on a GPU."""
    return jax.eval_shape(functools.partial(model.init, None, n_features, n_outputs))


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 4))
def _compiled_init(model: Model, seed, n_features: int, n_outputs: int, dtype: str):
    key = jax.random.fold_in(jax.random.key(seed), 0)
    return jax.tree.map(lambda p: p.astype(dtype), model.init(key, n_features, n_outputs))


@functools.partial(jax.jit, static_argnames=("problem",))
def objective_value(problem: Problem, params, X, y, w, hyper):
    return problem.total(params, X, y, w, hyper["l2"], hyper["l1"])


@functools.partial(jax.jit, static_argnames=("problem", "linked"))
def predict(problem: Problem, params, X, linked: bool):
    out = problem.outputs(params, X)
    return problem.objective.link(out) if linked else out
