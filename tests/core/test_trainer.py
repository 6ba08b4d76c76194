"""The trainer's promises beyond convergence: compile once per bucket, early stopping, progress, bad input."""

from __future__ import annotations

import dataclasses
import doctest
import gc
import json
import logging
import os
import re
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from core_data import TRUE_COEF, features, target
from sklearn.model_selection import KFold

import fieldguide.core
from fieldguide.core import (
    Learner,
    _exported,
    _learner,
    _solvers,
    bucket,
    models,
    objectives,
    optax_optimizer,
    penalties,
)
from fieldguide.errors import DataError
from fieldguide.models import LogisticRegression, _base


def _cv_traces(make_learner, solver: str, n: int = 203, **fit) -> int:
    """Traces of ``solver``'s loop over a 5-fold CV (training folds of 162 and 163 rows) plus predictions."""
    X = features(n=n)
    y = target("binary", X)
    before = _solvers.TRACES[solver]
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        fitted = make_learner().fit(X[train], y[train], **fit)
        assert fitted.predict(X[test]).shape == (len(test),)
    return _solvers.TRACES[solver] - before


def test_cross_validation_compiles_each_loop_once():
    assert bucket(162) == bucket(163)
    # fresh configurations (an MLP width no other test uses), so the first fold must trace and the others not
    lbfgs = Learner(models.MLP(hidden=(3,)), objectives.LogLoss() + penalties.L2(1e-2), verbose=False)
    assert _cv_traces(lambda: lbfgs, "lbfgs") == 1
    # a Tweedie power no other test uses, so this Newton configuration is new to the process
    newton = Learner(
        models.Linear(), objectives.Tweedie(power=1.7) + penalties.L2(1e-2), "newton", verbose=False
    )
    assert _cv_traces(lambda: newton, "newton") == 1
    quantiles = iter(np.linspace(1e-3, 1e-2, 5))  # a quantile no other test uses; L1 strengths per fold
    interior = lambda: Learner(  # noqa: E731
        models.Linear(),
        objectives.Pinball(0.37) + penalties.L1(next(quantiles)),
        "interior_point",
        verbose=False,
    )
    assert _cv_traces(interior, "interior_point") == 1
    # a new Learner per fold, as a cloned estimator builds it: equal configuration, shared optimizer object,
    # and a penalty strength that changes per fold (penalties are dynamic)
    alphas = iter(np.linspace(1e-3, 1e-2, 5))
    adam = lambda: Learner(  # noqa: E731
        models.MLP(hidden=(5,)),
        objectives.LogLoss() + penalties.L2(next(alphas)),
        optax_optimizer("adam", learning_rate=1e-2),
        verbose=False,
    )
    assert _cv_traces(adam, "optax", epochs=3, batch_size=32) == 1


def test_interior_point_is_for_the_pinball_linear_program():
    for model, objective, found in [
        (models.MLP(hidden=(3,)), objectives.Pinball(0.5), "MLP"),
        (models.Linear(), objectives.SquaredError(), "SquaredError"),
        (models.Linear(), objectives.Pinball(0.5) + penalties.L2(1.0), "Pinball and an L2 part"),
    ]:
        with pytest.raises(ValueError, match=f"linear program .* got .*{found}"):
            Learner(model, objective, "interior_point")


def test_newton_is_for_one_output_linear_models():
    X = features(n=60)
    with pytest.raises(ValueError, match=r"'newton' needs a models\.Linear model"):
        Learner(models.MLP(hidden=(3,)), objectives.LogLoss(), "newton")
    multiclass = Learner(models.Linear(), objectives.SoftmaxCrossEntropy(), "newton", verbose=False)
    with pytest.raises(ValueError, match="'newton' handles one output; SoftmaxCrossEntropy needs 3"):
        multiclass.fit(X, target("multiclass", X))
    # an L1 part needs exact zeros: Newton hands the fit to FISTA, as L-BFGS does
    before = _solvers.TRACES["newton"]
    lasso = Learner(models.Linear(), objectives.SquaredError() + penalties.L1(0.5), "newton", verbose=False)
    assert (lasso.fit(X, target("real", X)).params["coef"] == 0).any()
    assert _solvers.TRACES["newton"] == before


def test_newton_converges_where_lbfgs_crawls():
    """Badly scaled, correlated features (scales 0.03 to 30): Newton's steps do not care, L-BFGS's do."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 8)) @ (np.eye(8) + 0.5 * rng.normal(size=(8, 8))) * np.logspace(-1.5, 1.5, 8)
    y = (rng.random(2000) < 1 / (1 + np.exp(-X @ (rng.normal(size=8) / X.std(0))))).astype(float)
    objective = objectives.LogLoss() + penalties.L2(1e-4)
    newton = Learner(models.Linear(), objective, "newton", dtype="float64", tol=1e-8, verbose=False).fit(X, y)
    lbfgs = Learner(models.Linear(), objective, "lbfgs", dtype="float64", tol=1e-8, verbose=False).fit(X, y)
    assert newton.history["converged"] and newton.history["n_iter"] <= 15
    assert newton.history["n_iter"] < lbfgs.history["n_iter"]
    assert newton.objective_value(X, y) <= lbfgs.objective_value(X, y) + 1e-12


def test_lbfgs_counts_its_evaluations_and_stops_at_max_fun():
    """``history["n_fun"]`` counts every evaluation of the objective, as a callback inside the model sees them."""
    X, y = features(n=300), target("binary", features(n=300))
    calls = []

    def apply(params, X):
        jax.debug.callback(lambda: calls.append(1))
        return X @ params["coef"] + params["intercept"]

    counted = models.Custom(models.Linear().init, apply)
    objective = objectives.LogLoss() + penalties.L2(1e-3)
    for max_fun in (None, 4):
        calls.clear()
        learner = Learner(counted, objective, "lbfgs", dtype="float64", tol=1e-10, max_fun=max_fun)
        history = learner.fit(X, y).history
        jax.effects_barrier()
        # the first evaluation and every line-search step
        assert history["n_fun"] == len(calls) > history["n_iter"]
    assert not history["converged"] and 4 <= history["n_fun"] <= 5  # stopped once an iteration reached it
    with pytest.raises(ValueError, match="max_fun must be None or >= 1, got 0"):
        Learner(models.Linear(), objective, "lbfgs", max_fun=0)


@pytest.mark.parametrize(
    ("objective", "kind"), [(objectives.LogLoss(), "binary"), (objectives.SquaredHinge(), "sign")]
)
def test_a_linear_fits_first_step_goes_as_far_as_the_curvature_bound_allows(objective, kind):
    """Optax scales L-BFGS's first step, the gradient, by min(1, 1/|g|); a linear model's first step is the
    gradient times min(1/c, 1/|g|), for the objective's bound c on its curvature (log loss 1/4, squared hinge 2),
    and on standard columns the line search takes it at its first guess."""
    X = features(n=2000)  # standard normal columns: the solver's coordinates are the model's
    y = target(kind, X)
    fitted = Learner(models.Linear(), objective, dtype="float64", max_iter=1, verbose=False).fit(X, y)
    encoded, w = objective.encode(y), np.ones(len(y))
    level = objective.constant_outputs(encoded, w)
    start = {"coef": np.zeros((X.shape[1], 1)), "intercept": np.zeros(1) if level is None else level}
    with jax.enable_x64():
        grad = jax.grad(lambda p: objective.loss(X @ p["coef"] + p["intercept"], encoded, w))(start)
    norm = float(optax.tree.norm(grad))
    step = min(1 / objective.curvature, 1 / norm)
    assert step != min(1.0, 1 / norm)  # the case where the two differ
    assert fitted.history["n_fun"] == 2  # the first evaluation, and the line search's first guess
    for key in ("coef", "intercept"):
        np.testing.assert_allclose(fitted.params[key], start[key] - step * grad[key], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("objective", "kind"),
    [(objectives.LogLoss(), "binary"), (objectives.Poisson(), "count"), (objectives.Gamma(), "positive")],
)
def test_float32_lbfgs_takes_no_step_too_small_for_float32_to_count(objective, kind):
    """A convex float32 fit stops where the L-BFGS model predicts a next step below SciPy's decrease test, rather
    than taking that step to see it: every step it took counts, and it still ends at float32's minimum."""
    X = features(n=2000)
    y = target(kind, X)
    objective = objective + penalties.L2(1e-3)
    fitted = Learner(models.Linear(), objective, "lbfgs", verbose=False).fit(X, y)
    exact = Learner(models.Linear(), objective, "lbfgs", dtype="float64", tol=1e-12, verbose=False).fit(X, y)
    loss = fitted.history["loss"].astype(np.float64)
    assert fitted.history["converged"]
    assert np.all(loss[:-1] - loss[1:] > 4 * np.finfo(np.float32).eps * loss[1:])
    assert fitted.objective_value(X, y) == pytest.approx(exact.objective_value(X, y), rel=1e-6)


@pytest.mark.parametrize(
    "objective",
    [
        objectives.SquaredError(),
        objectives.Huber(),
        objectives.LogLoss(),
        objectives.SoftmaxCrossEntropy(3),
        objectives.Poisson(),
        objectives.Gamma(),
        objectives.Tweedie(power=1.5),
        objectives.SquaredHinge(),
        objectives.Tweedie(power=0),
        objectives.Tweedie(power=3),
    ],
    ids=lambda o: f"{type(o).__name__}{getattr(o, 'power', '')}",
)
def test_objectives_that_say_they_are_convex_have_no_negative_curvature(objective):
    """Checked on the per-row loss's Hessian in the outputs at random outputs and valid targets; the two Tweedie
    powers that are not convex through the log link (0, and above 2) must show negative curvature somewhere."""
    rng = np.random.default_rng(0)
    k = 3 if isinstance(objective, objectives.SoftmaxCrossEntropy) else 1
    outputs = rng.normal(scale=2.0, size=(500, k))
    # class ids, or positive values (every regression objective here accepts them)
    y = rng.integers(0, max(k, 2), 500) if objective.classifies else rng.gamma(2.0, 2.0, 500)
    y = jnp.asarray(objective.encode(y))
    with jax.enable_x64():
        hessians = jax.vmap(jax.hessian(lambda f, t: objective.per_row(f[None], t[None])[0]))(
            jnp.asarray(outputs), y
        )
        lowest = np.linalg.eigvalsh(np.asarray(hessians)).min()
    if objective.convex:
        assert lowest >= -1e-12
    else:
        assert lowest < -1e-3


def _income_table():
    """Three standardised columns and one like an income (mean 3000, sd 1000), as raw tables hold them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4)) * [1000.0, 1.0, 1.0, 1.0] + [3000.0, 0.0, 0.0, 0.0]
    signal = X @ [0.001, -1.0, 0.5, 0.0] - 3.0 + 0.5 * rng.normal(size=2000)
    return X, signal


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("case", "objective", "reference"),
    [
        ("logistic", objectives.LogLoss() + penalties.L2(1e-4), "newton"),
        ("multinomial", objectives.SoftmaxCrossEntropy() + penalties.L2(1e-4), "sklearn"),
        ("lasso", objectives.SquaredError() + penalties.L1(1e-2), "sklearn"),
    ],
)
def test_linear_fits_reach_the_minimum_whatever_the_columns_scale(case, objective, reference, dtype):
    """L-BFGS and FISTA used to stop near the start (and say converged) on such a column, in float32 at once."""
    from sklearn.linear_model import Lasso
    from sklearn.linear_model import LogisticRegression as SkLogistic

    X, signal = _income_table()
    y = {"logistic": signal > np.median(signal), "lasso": signal}.get(case)
    if case == "multinomial":
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    fitted = Learner(models.Linear(), objective, "lbfgs", dtype=dtype, tol=1e-8, verbose=False).fit(X, y)
    if reference == "newton":
        best = Learner(models.Linear(), objective, "newton", dtype="float64", tol=1e-10, verbose=False).fit(
            X, y
        )
        best_value = best.objective_value(X, y)
    elif case == "lasso":
        lasso = Lasso(alpha=1e-2, tol=1e-12, max_iter=100_000).fit(X, y)  # the same ½·mean(r²) + alpha·|w|
        best_value = 0.5 * np.mean((y - lasso.predict(X)) ** 2) + 1e-2 * np.abs(lasso.coef_).sum()
    else:  # L2(1e-4) on the mean loss is C = 1 / (1e-4 · n)
        sk = SkLogistic(C=1 / (1e-4 * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
        params = {"coef": sk.coef_.T, "intercept": sk.intercept_}
        best_value = dataclasses.replace(fitted, params=params, dtype="float64").objective_value(X, y)
    value = fitted.objective_value(X, y)
    assert fitted.history["converged"]
    # at or below the reference's value (scikit-learn's own fit stops a little short of the minimum)
    assert value <= best_value + (1e-5 if dtype == "float32" else 1e-7) * abs(best_value)


def test_a_custom_model_with_the_wrong_output_shape_is_refused_before_training():
    X = features(n=40)

    def init(key, n_features, n_outputs):
        return {"w": jnp.zeros(n_features), "b": jnp.zeros(())}

    def flat(params, X):  # (n,) where the trainer needs (n, 1): it would broadcast against y to (n, n)
        return X @ params["w"] + params["b"]

    learner = Learner(models.Custom(init, flat), objectives.SquaredError(), verbose=False)
    with pytest.raises(
        ValueError, match=re.escape("expected outputs of shape (n_rows, 1) for this objective, found (3,)")
    ):
        learner.fit(X, target("real", X))


def test_a_diverging_fit_raises_instead_of_returning_nan():
    X = features(n=200) * 10.0
    learner = Learner(models.MLP(hidden=(8,)), objectives.SquaredError(), optax.sgd(0.5), verbose=False)
    with pytest.raises(FloatingPointError, match=r"training diverged.*standardise X's columns"):
        learner.fit(X, 100 * target("real", X), epochs=5, batch_size=50)


def test_targets_beyond_float32_are_refused():
    X = features(n=20)
    y = target("real", X)
    y[3] = 1e39  # finite in float64
    with pytest.raises(DataError, match="y: expected finite values in float32, found 1 NaN or inf"):
        Learner(models.Linear(), objectives.SquaredError(), verbose=False).fit(X, y)
    Learner(models.Linear(), objectives.SquaredError(), dtype="float64", verbose=False).fit(X, y)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux's /proc")
def test_compiled_code_is_released_near_the_memory_map_limit(monkeypatch):
    # the jitted loops themselves, not stored exported programs
    monkeypatch.setenv("FIELDGUIDE_JAX_CACHE", "0")
    X = features(n=40)
    Learner(models.Linear(), objectives.SquaredError(), verbose=False).fit(X, target("real", X))
    assert _solvers.lbfgs_run._cache_size() > 0
    with open("/proc/self/maps") as maps:
        in_use = sum(1 for _ in maps)
    monkeypatch.setattr(_learner, "_max_map_count", lambda: 4 * in_use)  # far from the limit: keep everything
    assert not _learner.release_compiled_code_if_crowded(force_check=True)
    assert _solvers.lbfgs_run._cache_size() > 0
    monkeypatch.setitem(_exported._CALLS, "a loaded exported loop", None)
    monkeypatch.setattr(_learner, "_max_map_count", lambda: in_use)  # past half of it: clear
    assert _learner.release_compiled_code_if_crowded(force_check=True)
    assert _solvers.lbfgs_run._cache_size() == 0
    assert "a loaded exported loop" not in _exported._CALLS
    fitted = Learner(models.Linear(), objectives.SquaredError(), verbose=False).fit(X, target("real", X))
    assert fitted.history["converged"]  # compiles again


def test_public_surface():
    assert sorted(fieldguide.core.__all__) == [
        "Fitted",
        "Learner",
        "bucket",
        "models",
        "objectives",
        "optax_optimizer",
        "penalties",
    ]
    assert {"Linear", "MLP", "FactorizationMachine", "Custom"} <= set(models.__all__)
    assert {"L1", "L2", "ElasticNet"} <= set(penalties.__all__)


def test_row_buckets_are_few_and_pad_larger_data_by_at_most_a_quarter_then_an_eighth():
    sizes = np.arange(1, 300_000)
    padded = np.array([bucket(n) for n in sizes])
    assert (padded >= sizes).all()
    small = sizes <= 1024  # padding a small table costs microseconds; each shape costs a compilation
    assert set(padded[small]) == {64, 128, 256, 512, 1024}
    large = sizes > 8192  # where a pass over the padding costs more than the compilation a bucket saves
    assert (padded[~small & ~large] <= 1.25 * sizes[~small & ~large]).all()
    assert (padded[large] <= 1.125 * sizes[large]).all()
    assert bucket(200_000) == 212_992  # bench_glm's rows: 229,376 in quarters
    assert len(set(padded[sizes < 20_000])) < 30 and len(set(padded)) < 64


@pytest.mark.parametrize(
    ("n_rows", "n_pad"), [(1, 8), (7, 8), (10, 16), (150, 256), (1000, 1024), (1023, 4096)]
)
def test_epoch_order_is_a_permutation_of_the_real_rows(n_rows, n_pad):
    from fieldguide.core._solvers import _shuffled

    order = np.asarray(_shuffled(jax.random.key(3), n_rows, n_pad))
    assert sorted(order[:n_rows]) == list(range(n_rows))
    assert (order[n_rows:] == np.arange(n_rows, n_pad)).all()  # padding stays behind the real rows


def test_epoch_order_is_uniform_over_keys():
    from scipy.stats import chisquare

    from fieldguide.core._solvers import _shuffled

    shuffle = jax.jit(_shuffled, static_argnums=2)
    orders = np.array([np.asarray(shuffle(jax.random.key(k), 12, 16))[:12] for k in range(1200)])
    for position in (0, 5, 11):  # each row lands at each position about equally often
        assert chisquare(np.bincount(orders[:, position], minlength=12)).pvalue > 1e-3
    assert len({tuple(o) for o in orders}) > 1190  # and the orders differ from key to key


def test_padding_changes_nothing():
    """Zero-weight padded rows: a fit on n rows equals the fit on the same rows plus explicit zero-weight rows."""
    X, y = features(n=150), target("real", features(n=150))
    learner = Learner(
        models.Linear(), objectives.SquaredError() + penalties.L2(0.1), dtype="float64", verbose=False
    )
    plain = learner.fit(X, y)
    padded = learner.fit(
        np.r_[X, X[:10] + 5], np.r_[y, y[:10]], sample_weight=np.r_[np.ones(150), np.zeros(10)]
    )
    np.testing.assert_allclose(plain.params["coef"], padded.params["coef"], rtol=1e-8)


def test_full_batch_fits_of_up_to_1024_rows_share_one_loop(monkeypatch):
    """A full-batch fit pads a small table to at least 1,024 rows: tables of 20 and of 1,000 rows run one
    compiled loop, each to the fit it has on its own row bucket (the padding rows weigh nothing)."""
    objective = objectives.LogLoss() + penalties.L2(1e-2)
    learner = Learner(models.Linear(), objective, "lbfgs", dtype="float64", tol=1e-10, verbose=False)
    X = features(n=1000)
    y = target("binary", X)
    learner.fit(X, y)
    before = _solvers.TRACES["lbfgs"]
    small = learner.fit(X[:20], y[:20])
    assert _solvers.TRACES["lbfgs"] == before
    monkeypatch.setattr(_learner, "_FULL_BATCH_ROWS", 1)  # 20 rows in their own bucket of 64
    alone = learner.fit(X[:20], y[:20])
    assert _solvers.TRACES["lbfgs"] == before + 1
    np.testing.assert_allclose(small.params["coef"], alone.params["coef"], rtol=1e-8)
    np.testing.assert_allclose(small.history["loss"], alone.history["loss"], rtol=1e-10)


def test_narrow_tables_share_a_column_bucket_until_their_rows_make_passes_cost():
    assert [_learner.column_bucket(d, 1024) for d in (1, 3, 8, 9, 30, 33, 64, 65, 130)] == [
        8, 8, 8, 16, 32, 64, 64, 128, 192,
    ]  # fmt: skip
    assert _learner.column_bucket(3, _learner._NARROW_ROWS + 1) == 3  # here a pass costs more than a compile


@pytest.mark.parametrize(
    ("model", "objective", "kind"),
    [
        (models.Linear(), objectives.LogLoss() + penalties.L2(1e-2), "binary"),
        (models.Linear(), objectives.SoftmaxCrossEntropy() + penalties.L2(1e-2), "multiclass"),
        (models.Linear(), objectives.SquaredError() + penalties.L1(0.05), "real"),  # FISTA, which zeroes some
        (models.MLP(hidden=(4,)), objectives.LogLoss() + penalties.L2(1e-2), "binary"),
        (models.FactorizationMachine(rank=2), objectives.SquaredError() + penalties.L2(1e-2), "real"),
    ],
)
def test_zero_columns_padded_for_sharing_change_no_fit(monkeypatch, model, objective, kind):
    """A 5-column table padded with 3 zero columns follows the unpadded fit's path, loss for loss, to its
    solution (a convex one exactly; along the flat directions of an MLP or factorization machine the rounding
    of sums over 8 columns instead of 5 parts the two late, at equal loss), and two narrow tables of one row
    bucket share the trace of its loop."""
    X = features(n=150) * [1.0, 10.0, 1.0, 0.1, 1.0]  # far from standard: the linear solvers' map takes part
    y = target(kind, X / [1.0, 10.0, 1.0, 0.1, 1.0])
    learner = Learner(model, objective, "lbfgs", dtype="float64", tol=1e-10, verbose=False)
    padded = learner.fit(X, y)
    monkeypatch.setattr(_learner, "_NARROW_ROWS", 0)
    plain = learner.fit(X, y)
    for got, want in zip(jax.tree.leaves(padded.params), jax.tree.leaves(plain.params), strict=True):
        assert got.shape == want.shape  # the fitted parameters have X's 5 columns
        if isinstance(model, models.Linear):  # a GPU orders a sum's terms by thread block: 8 columns round
            # differently from 5, and FISTA's two paths part at rounding level to stop apart within tol's reach
            rtol = 1e-8 if jax.default_backend() == "cpu" else 1e-6
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(padded.history["loss"][:10], plain.history["loss"][:10], rtol=1e-12)
    assert padded.history["loss"][-1] == pytest.approx(plain.history["loss"][-1], rel=1e-5)
    monkeypatch.undo()
    solver = "fista" if objective.penalty.l1_strength else "lbfgs"
    before = _solvers.TRACES[solver]
    fitted = learner.fit(X[:, :3], y)  # 3 columns: the 5-column fit's loop and row bucket
    assert _solvers.TRACES[solver] == before and fitted.predict(X[:, :3]).shape[0] == 150


@pytest.mark.parametrize(
    ("model", "optimizer"),
    [(models.MLP(hidden=(4,)), optax.adam(1e-2)), (models.Linear(), optax.lbfgs())],
    ids=["mlp-adam", "linear-lbfgs-as-optax"],
)  # L-BFGS keeps a stack of past parameters: its state holds the columns on its second axis
def test_optax_fits_of_padded_columns_return_and_continue_the_unpadded_state(monkeypatch, model, optimizer):
    """An Optax fit of a narrow table pads its columns too: the fit follows the unpadded one, the parameters and
    the optimizer's state come back with X's 5 columns, a fit continuing that state is the one long fit, and a
    3-column table reuses the 5-column trace."""
    X = features(n=150)
    y = target("binary", X)
    objective = objectives.LogLoss() + penalties.L2(1e-2)
    learner = Learner(model, objective, optimizer, dtype="float64", verbose=False)
    kw = {"batch_size": 64, "seed": 1}
    padded = learner.fit(X, y, epochs=6, **kw)
    with monkeypatch.context() as patch:
        patch.setattr(_learner, "_NARROW_ROWS", 0)
        plain = learner.fit(X, y, epochs=6, **kw)
    np.testing.assert_allclose(padded.history["loss"], plain.history["loss"], rtol=1e-9)
    for got, want in zip(jax.tree.leaves(padded.opt_state), jax.tree.leaves(plain.opt_state), strict=True):
        assert np.shape(got) == np.shape(want)  # X's 5 columns, as an unpadded fit's state
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    first = learner.fit(X, y, epochs=4, **kw)
    rest = learner.fit(X, y, epochs=2, init_params=first.params, init_state=first.opt_state, **kw)
    for got, want in zip(jax.tree.leaves(rest.params), jax.tree.leaves(padded.params), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    before = _solvers.TRACES["optax"]
    learner.fit(X[:, :3], y, epochs=6, **kw)
    assert _solvers.TRACES["optax"] == before
    with pytest.raises(ValueError, match="init_state does not fit"):  # the state of a 3-column fit
        learner.fit(X, y, epochs=1, init_state=learner.fit(X[:, :3], y, epochs=1, **kw).opt_state, **kw)


def test_line_search_transformations_run_as_optax_optimizers():
    """optax.lbfgs() needs the batch's value and a way to re-evaluate it: given them, one batch holding every row is
    full-batch L-BFGS and reaches the built-in 'lbfgs' solution; smaller batches run it on each batch."""
    X = features(n=300)
    y = target("binary", X, seed=3)
    objective = objectives.LogLoss() + penalties.L2(1e-2)
    reference = Learner(models.Linear(), objective, "lbfgs", dtype="float64", verbose=False).fit(X, y)
    learner = Learner(models.Linear(), objective, optax.lbfgs(), dtype="float64", verbose=False)
    whole = learner.fit(X, y, epochs=40, batch_size=512)
    np.testing.assert_allclose(whole.params["coef"], reference.params["coef"], rtol=1e-4)
    np.testing.assert_allclose(whole.history["loss"][-1], reference.history["loss"][-1], rtol=1e-10)
    batched = learner.fit(X, y, epochs=3, batch_size=64)
    assert batched.history["loss"][-1] < batched.history["loss"][0]


def test_early_stopping_restores_the_best_parameters():
    X = features(n=400)
    y = target("binary", X, seed=5)
    X_noisy = np.c_[X, np.random.default_rng(1).normal(size=(400, 30))]  # room to overfit
    learner = Learner(
        models.MLP(hidden=(64,)), objectives.LogLoss(), optax.adam(3e-2), dtype="float64", verbose=False
    )
    kw = {"batch_size": 32, "validation_fraction": 0.3, "seed": 2}
    stopped = learner.fit(X_noisy, y, epochs=300, patience=5, **kw)
    history = stopped.history
    assert history["converged"] and history["n_iter"] < 300
    assert history["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert history["n_iter"] == history["best_epoch"] + 5
    # the same run cut at the best epoch ends on the parameters early stopping restored
    replay = learner.fit(X_noisy, y, epochs=history["best_epoch"], **kw)
    for a, b in zip(jax.tree.leaves(stopped.params), jax.tree.leaves(replay.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_l2_penalises_weights_but_not_intercepts():
    X = features()
    y = target("real", X) + 10.0
    fitted = Learner(models.Linear(), objectives.SquaredError() + penalties.L2(1e6), dtype="float64").fit(
        X, y
    )
    assert np.abs(fitted.params["coef"]).max() < 1e-4
    assert fitted.params["intercept"][0] == pytest.approx(y.mean(), rel=1e-6)
    mask = models.MLP(hidden=(2,)).penalized(models.MLP(hidden=(2,)).init(jax.random.key(0), 3, 1))
    assert mask == {"layer_0": {"weight": True, "bias": False}, "output": {"weight": True, "bias": False}}


def test_penalties_combine_and_follow_scikit_learn_conventions():
    w = {"coef": jnp.array([3.0, -4.0]), "intercept": jnp.array([100.0])}
    mask = models.Linear().penalized(w)
    assert float(penalties.L2(2.0)(w, mask)) == pytest.approx(2.0 / 2 * 25)
    assert float(penalties.L1(2.0)(w, mask)) == pytest.approx(2.0 * 7)
    enet = penalties.ElasticNet(2.0, l1_ratio=0.25)
    assert float(enet(w, mask)) == pytest.approx(2.0 * 0.25 * 7 + 2.0 * 0.75 / 2 * 25)
    both = objectives.SquaredError() + penalties.L2(1.0) + penalties.L1(0.5)
    assert both.penalty.l2_strength == 1.0 and both.penalty.l1_strength == 0.5
    assert penalties.L1(0.5) + (penalties.L2(1.0) + objectives.SquaredError()) == objectives.SquaredError(
        penalty=penalties.Penalties((penalties.L2(1.0), penalties.L1(0.5)))
    )
    assert float((penalties.L2(1.0) + penalties.L1(0.5))(w, mask)) == pytest.approx(12.5 + 3.5)


@pytest.mark.parametrize("n", [12, 2048, 5120])  # one dot, and blocks of 1024
def test_linear_gradients_match_autodiff_of_the_plain_product(n):
    rng = np.random.default_rng(0)
    X, coef, ct = rng.normal(size=(n, 5)), rng.normal(size=(5, 1)), rng.normal(size=(n, 1))
    with jax.enable_x64(True):
        X, coef, ct = jnp.asarray(X), jnp.asarray(coef), jnp.asarray(ct)
        ours = jax.vjp(lambda c, x: models.one_output_product(x, c), coef, X)
        plain = jax.vjp(lambda c, x: x @ c, coef, X)
        np.testing.assert_allclose(ours[0], plain[0], rtol=1e-12)
        for mine, reference in zip(ours[1](ct), plain[1](ct), strict=True):
            np.testing.assert_allclose(mine, reference, rtol=1e-10)
        # the public model stays differentiable in forward mode too (the custom VJP is the trainer's alone)
        jacobian = jax.jacfwd(lambda c: models.Linear(fit_intercept=False).apply({"coef": c}, X))(coef)
        np.testing.assert_allclose(jacobian[:, 0, :, 0], X)


def test_factorization_machine_matches_the_explicit_pairwise_sum():
    fm = models.FactorizationMachine(rank=3, init_scale=1.0)
    params = fm.init(jax.random.key(1), 4, 2)
    params["coef"] = jax.random.normal(jax.random.key(2), (4, 2))
    X = np.random.default_rng(0).normal(size=(6, 4))
    v = np.asarray(params["factors"])
    pairs = sum(np.outer(X[:, i] * X[:, j], (v[i] * v[j]).sum(0)) for i in range(4) for j in range(i + 1, 4))
    expected = X @ np.asarray(params["coef"]) + np.asarray(params["intercept"]) + pairs
    np.testing.assert_allclose(fm.apply(params, jnp.asarray(X, jnp.float32)), expected, rtol=1e-4, atol=1e-5)


def test_mlp_initialisation_is_glorot_uniform_like_scikit_learn():
    params = models.MLP(hidden=(50,), activation="logistic").init(jax.random.key(0), 30, 20)
    weight = np.asarray(params["layer_0"]["weight"])
    bound = np.sqrt(2.0 / (30 + 50))
    assert weight.shape == (30, 50) and np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound


def test_core_docstrings_run():
    for module in (fieldguide.core, models, objectives, penalties, _learner):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__


def test_fits_and_predictions_run_matrix_products_at_full_precision(monkeypatch):
    """A GPU's default runs float32 products on TF32 tensor cores (10 bits of mantissa): fieldguide traces its
    fits and predictions at "highest", so a GPU fit reaches the CPU's, and leaves the user's setting alone."""
    seen = []

    def apply(params, X):
        seen.append(jax.config.jax_default_matmul_precision)
        return X @ params["coef"] + params["intercept"]

    model = models.Custom(models.Linear().init, apply)
    X = features()
    y = target("binary", X)
    for optimizer in ("lbfgs", "proximal", optax_optimizer("adam", learning_rate=1e-2)):
        Learner(model, objectives.LogLoss(), optimizer, verbose=False).fit(X, y).predict(X)
    predicted, predict = [], _base._predict

    def recording(*args):
        predicted.append(jax.config.jax_default_matmul_precision)
        return predict(*args)

    monkeypatch.setattr(_base, "_predict", recording)
    LogisticRegression().fit(X, y).predict_proba(X)
    assert len(seen) >= 3 and set(seen + predicted) == {"highest"} and predicted
    assert jax.config.jax_default_matmul_precision is None


def test_progress_bar_only_for_slow_fits(capsys, monkeypatch):
    X, y = features(), target("binary", features())
    parts = (
        models.MLP(hidden=(8,), activation="tanh"),
        objectives.LogLoss(),
        optax_optimizer("adam", learning_rate=1e-2),
    )
    learner = Learner(*parts, verbose=True)
    learner.fit(X, y, epochs=5)  # well under a second once compiled: silent
    learner.fit(X, y, epochs=5)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_learner, "_QUIET_SECONDS", 0.0)
    monkeypatch.setattr(_learner, "_CHUNK_SECONDS", 0.0)  # one epoch per chunk
    learner.fit(X, y, epochs=5)
    assert "training (epochs)" in capsys.readouterr().err
    Learner(*parts, verbose=False).fit(X, y, epochs=5)
    assert capsys.readouterr().err == ""


def test_persistent_compilation_cache_respects_the_user(tmp_path):
    script = f"""
import os, jax
from fieldguide.core import _learner
enable = _learner._enable_compilation_cache.__wrapped__
os.environ["FIELDGUIDE_JAX_CACHE"] = "0"; enable(); print(jax.config.jax_compilation_cache_dir)
del os.environ["FIELDGUIDE_JAX_CACHE"]; enable(); print(jax.config.jax_compilation_cache_dir)
os.environ["FIELDGUIDE_CACHE"] = {str(tmp_path / "chosen")!r}; jax.config.update("jax_compilation_cache_dir", None)
enable(); print(jax.config.jax_compilation_cache_dir)
jax.config.update("jax_compilation_cache_dir", {str(tmp_path / "mine")!r}); enable()
print(jax.config.jax_compilation_cache_dir)
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for name in ("FIELDGUIDE_JAX_CACHE", "FIELDGUIDE_CACHE", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    expected = ["None", tmp_path / "fieldguide" / "jax", tmp_path / "chosen" / "jax", tmp_path / "mine"]
    assert out.stdout.split() == [str(path) for path in expected]


EXPORT_SCRIPT = """
import json, logging, sys
import jax, numpy as np
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="LOG %(message)s")
jax.config.update("jax_log_compiles", True)
from fieldguide.core import Learner, _solvers, models, objectives
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4)); y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
model = models.Linear() if sys.argv[1] == "linear" else models.Custom(models.Linear().init, models.Linear().apply)
fitted = Learner(model, objectives.LogLoss(), verbose=False).fit(X, y)
coef = np.asarray(fitted.params["coef"]).ravel().tolist()
print(json.dumps({"traces": _solvers.TRACES["lbfgs"], "coef": coef}))
"""


def test_full_batch_loops_are_exported_once_and_reused_by_new_processes(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for name in ("FIELDGUIDE_JAX_CACHE", "FIELDGUIDE_CACHE", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(name, None)
    exported = tmp_path / "fieldguide" / "jax" / "exported"

    def run(model="linear"):
        args = [sys.executable, "-c", EXPORT_SCRIPT, model]
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
        logs = [line for line in out.splitlines() if line.startswith("LOG ")]
        return json.loads(out.splitlines()[-1]), logs

    first, _ = run()
    (stored,) = exported.glob("*.bin")
    second, logs = run()
    assert (first["traces"], second["traces"]) == (1, 0)  # the new process did not trace the loop
    # and loaded one program, the loop, which starts itself: a linear model's zero start and its intercept are
    # made by NumPy, since each program more costs a first fit its lowering and its read from the cache
    compiled = [re.search(r"Compiling jit\((\w+)\)", line) for line in logs]
    assert [match[1] for match in compiled if match] == ["call"]
    assert second["coef"] == first["coef"]
    damaged = bytearray(stored.read_bytes())
    damaged[-1] ^= 0xFF
    stored.write_bytes(bytes(damaged))
    third, logs = run()
    assert third["traces"] == 1 and third["coef"] == first["coef"]
    assert any("checksum mismatch" in line for line in logs)
    assert run()[0]["traces"] == 0  # stored again, whole
    custom, _ = run("custom")  # user code: never stored, always traced
    assert custom["traces"] == 1 and len(list(exported.glob("*.bin"))) == 1


def test_stored_loops_are_bounded_and_the_least_recently_used_go_first(tmp_path, monkeypatch):
    """Every core version and row bucket stores a program; past the bound the least recently used go, and a
    program read back by a new process counts as used."""
    monkeypatch.setattr(_exported, "directory", lambda: tmp_path)
    monkeypatch.setattr(_exported, "_CALLS", {})
    learner = Learner(models.Linear(), objectives.LogLoss(), verbose=False)
    X = features(n=2000)
    y = target("binary", X)
    stored = {}
    for n in (200, 1500, 2000, 1200):  # row buckets 1024, 1536, 2048, 1280: a program each
        before = set(tmp_path.glob("*.bin"))
        learner.fit(X[:n], y[:n])
        (stored[n],) = set(tmp_path.glob("*.bin")) - before
        os.utime(stored[n], (1e9 + n, 1e9 + n))  # stored in the order of their row counts, 200 first
    _exported.forget()
    learner.fit(X[:200], y[:200])  # read back, so used now: the 1,200-row program is the oldest
    assert stored[200].stat().st_mtime > 1e9 + 2000
    sizes = {n: path.stat().st_size for n, path in stored.items()}
    _exported.prune(tmp_path, max_bytes=sum(sizes.values()) - sizes[1200])
    assert set(tmp_path.glob("*.bin")) == {stored[n] for n in (200, 1500, 2000)}
    # a new program past the bound: every older one goes
    monkeypatch.setattr(_exported, "MAX_BYTES", max(sizes.values()) + 1024)
    learner.fit(X[:1000].repeat(3, axis=0), y[:1000].repeat(3))  # 3,000 rows: bucket 3072
    (newest,) = tmp_path.glob("*.bin")
    assert newest not in stored.values()


def test_a_stored_loop_lowered_for_another_platform_is_exported_again(tmp_path, monkeypatch, caplog):
    """A cache directory shared by a CPU and a GPU run (or copied between machines) must not hand this platform a
    program it cannot call: the fit goes on with a program exported here, and stores it."""
    monkeypatch.setattr(_exported, "directory", lambda: tmp_path)
    monkeypatch.setattr(_exported, "_CALLS", {})
    learner = Learner(models.Linear(), objectives.LogLoss(), verbose=False)
    X = features(n=300)
    y = target("binary", X)
    coef = np.asarray(learner.fit(X, y).params["coef"])
    (stored,) = tmp_path.glob("*.bin")
    here = jax.export.default_export_platform()
    other = "cuda" if here == "cpu" else "cpu"
    spec = jax.ShapeDtypeStruct((3,), np.float32)
    # a program lowered for the other platform (lowering needs no device of it), under this fit's name
    elsewhere = jax.export.export(jax.jit(lambda v: v + 1), platforms=[other])(spec)
    _exported._write(stored, elsewhere.serialize())
    _exported.forget()
    with caplog.at_level(logging.WARNING, logger=_exported.__name__):
        refit = learner.fit(X, y)
    assert f"lowered for ('{other}',), not {here}" in caplog.text
    np.testing.assert_array_equal(np.asarray(refit.params["coef"]), coef)
    assert _exported._read(stored, here).platforms == (here,)  # stored again, for this platform
    assert _exported._read(stored, other) is None


def test_pruning_removes_temporary_files_of_writes_that_never_finished(tmp_path):
    """A process killed mid-write leaves its temporary file; pruning removes it once it is too old to be a write
    in progress, and leaves a fresh one (another process may be writing it now)."""
    stale, fresh = tmp_path / "a.tmp", tmp_path / "b.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half a program")
    old = time.time() - _exported.STALE_SECONDS - 60
    os.utime(stale, (old, old))
    _exported.prune(tmp_path)
    assert not stale.exists() and fresh.exists()


LOGLOSS = Learner(models.Linear(), objectives.LogLoss(), verbose=False)
BAD_INPUT = [
    ("X not 2-D", LOGLOSS, {"X": np.zeros(10)}, "X: expected a 2-D array"),
    ("NaN in X", LOGLOSS, {"X": np.r_[np.zeros((9, 2)), [[np.nan, 0]]]}, "X: expected finite values"),
    (
        "inf in y",
        Learner(models.Linear(), objectives.SquaredError()),
        {"y": np.r_[np.zeros(9), np.inf]},
        "y: expected finite",
    ),
    ("3 classes for LogLoss", LOGLOSS, {"y": np.arange(10) % 3}, "y: LogLoss expects"),
    ("labels as text", LOGLOSS, {"y": np.array(["no", "yes"] * 5)}, "found values {'no', 'yes'}"),
    (
        "two columns for LogLoss",
        LOGLOSS,
        {"y": np.zeros((10, 2))},
        r"y: LogLoss expects a 1-D target with values in \{0, 1\}; found shape (10, 2), values \{0.0\}$",
    ),
    (
        "fractions for a hinge",
        Learner(models.Linear(), objectives.SquaredHinge()),
        {"y": np.linspace(0, 1, 10)},
        r"y: SquaredHinge expects a 1-D target with values in \{-1, \+1\} or \{0, 1\}; found values \{0.0, ",
    ),
    (
        "negative y for Poisson",
        Learner(models.Linear(), objectives.Poisson()),
        {"y": -np.ones(10)},
        "y: Poisson expects non-negative",
    ),
    (
        "zero y for Gamma",
        Learner(models.Linear(), objectives.Gamma()),
        {"y": np.zeros(10)},
        "y: Gamma expects strictly positive",
    ),
    (
        "fractional class ids",
        Learner(models.Linear(), objectives.SoftmaxCrossEntropy()),
        {"y": np.full(10, 0.5)},
        "integer class ids",
    ),
    ("lengths differ", LOGLOSS, {"y": np.zeros(9)}, "y: expected 10 values"),
    (
        "negative weight",
        LOGLOSS,
        {"sample_weight": -np.ones(10)},
        "sample_weight: expected values >= 0, found 10 that are not (first at row 0: -1.0)",
    ),
    (
        "NaN weight",
        LOGLOSS,
        {"sample_weight": np.r_[np.ones(9), np.nan]},
        "sample_weight: expected finite values, found 1 that are not (first at row 9: nan)",
    ),
    ("weights misshaped", LOGLOSS, {"sample_weight": np.ones(3)}, "sample_weight: expected shape (10,)"),
    (
        "batch_size 0",
        Learner(models.Linear(), objectives.LogLoss(), optax.sgd(0.1)),
        {"batch_size": 0},
        "batch_size must be",
    ),
    (
        "epochs 0",
        Learner(models.Linear(), objectives.LogLoss(), optax.sgd(0.1)),
        {"epochs": 0},
        "epochs must be",
    ),
]


@pytest.mark.parametrize(
    ("learner", "override", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_names_the_parameter(learner, override, message):
    args = {"X": np.zeros((10, 2)), "y": np.arange(10) % 2, **override}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        learner.fit(args.pop("X"), args.pop("y"), **args)


def test_data_errors_are_fieldguide_errors():
    with pytest.raises(DataError):
        LOGLOSS.fit(np.zeros((4, 2)), np.array([0, 1, 2, 1]))


def test_bad_configuration_is_refused_at_construction():
    with pytest.raises(ValueError, match="not smooth"):
        Learner(models.Linear(), objectives.Pinball(0.5), "lbfgs")
    with pytest.raises(ValueError, match="dtype"):
        Learner(models.Linear(), objectives.LogLoss(), dtype="float16")
    with pytest.raises(ValueError, match="activation"):
        models.MLP(activation="swish")
    with pytest.raises(ValueError, match="alpha"):
        penalties.L2(-1.0)


def test_predict_checks_the_feature_count():
    fitted = LOGLOSS.fit(features(), np.arange(200) % 2)
    with pytest.raises(DataError, match="expected 5 features"):
        fitted.predict(np.zeros((3, 4)))


@pytest.fixture(params=[1, 3], ids=["one thread", "three threads"])
def staging_threads(request, monkeypatch):
    """Staging on one thread (a small table), or with its blocks split across three (a large one)."""
    monkeypatch.setattr(_learner, "_stage_workers", lambda n_values: request.param)
    return request.param


def test_staging_casts_pads_and_checks_in_one_pass(staging_threads):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3 * _learner._STAGE_ROWS + 5, 3))  # float64, several blocks and a ragged last one
    staged = _learner.stage_rows(X, 3 * _learner._STAGE_ROWS + 64, "float32")
    assert staged.dtype == np.float32 and staged.ctypes.data % _learner._ALIGN == 0
    np.testing.assert_array_equal(staged[: len(X)], X.astype(np.float32))
    assert not staged[len(X) :].any()
    rows = rng.permutation(len(X))[:1000]
    np.testing.assert_array_equal(
        _learner.stage_rows(X, 1024, "float32", rows)[:1000], X[rows].astype(np.float32)
    )
    in_parts = _learner.stage_rows(X, 2 * 20_000, "float32", shards=2, n_cols=4)  # two devices' shares
    np.testing.assert_array_equal(in_parts[: len(X) // 2, :3], X[: len(X) // 2].astype(np.float32))
    np.testing.assert_array_equal(
        in_parts[20_000 : 20_000 + len(X) - len(X) // 2, :3], X[len(X) // 2 :].astype(np.float32)
    )
    assert not in_parts[:, 3].any() and not in_parts[len(X) // 2 : 20_000].any()
    ints = _learner.stage_rows(np.arange(6).reshape(3, 2), 4, "float64")
    np.testing.assert_array_equal(ints, [[0, 1], [2, 3], [4, 5], [0, 0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_large_x_is_predicted_in_parts_as_in_one_piece(monkeypatch, dtype):
    X = features(n=5000)
    y = target("binary", X)
    X[:, 1] *= 1e3  # outputs of several magnitudes
    fitted = Learner(models.Linear(), objectives.LogLoss(), verbose=False, dtype=dtype).fit(X, y)
    estimator = LogisticRegression(dtype=dtype).fit(X, y)
    whole = fitted.predict(X), fitted.decision_function(X), estimator.predict_proba(X)
    staged = []
    stage_rows = _learner.stage_rows
    monkeypatch.setattr(
        _learner, "stage_rows", lambda X, n_pad, *a: staged.append(n_pad) or stage_rows(X, n_pad, *a)
    )
    monkeypatch.setattr(_learner, "_PART_BYTES", 4096)  # X is 5000 x 5: parts of 1,024 rows (the least)
    in_parts = fitted.predict(X), fitted.decision_function(X), estimator.predict_proba(X)
    assert staged == [1024] * 15  # five parts each: the last one's 904 rows are padded to the same bucket
    for part, one in zip(in_parts, whole, strict=True):
        np.testing.assert_allclose(part, one, rtol=1e-6 if dtype == "float32" else 1e-13)
    X[3000, 2] = X[4500, 0] = np.inf  # in the third and the fifth part: told in X's rows, as in one piece
    message = r"X: expected finite values in .*, found NaN or inf in 2 row\(s\), first at row 3000, column 2$"
    for predict in (fitted.predict, estimator.predict_proba):
        with pytest.raises(DataError, match=message):
            predict(X)


def test_large_staging_buffers_are_filled_again_only_once_no_array_uses_them(monkeypatch):
    monkeypatch.setattr(_learner, "_SPARE_MIN_BYTES", 1024)  # "large": this test's 4 KB
    monkeypatch.setattr(_learner, "_spares", [])
    X = np.arange(900.0).reshape(300, 3)
    first = _learner.stage_rows(X, 320, "float32")
    address = first.ctypes.data
    first[:] = np.nan  # what a reused buffer holds before it is filled again
    second = _learner.stage_rows(X, 320, "float32")  # ``first`` is alive: another buffer
    assert second.ctypes.data != address
    del first
    third = _learner.stage_rows(X[:250], 320, "float32")
    assert third.ctypes.data == address  # free again: reused, every value written anew
    np.testing.assert_array_equal(third[:250], X[:250].astype(np.float32))
    assert not third[250:].any()
    adopted = jax.device_put(third, jax.devices("cpu")[0])  # the CPU client uses it in place, keeps it alive
    assert adopted.unsafe_buffer_pointer() == address
    del third, second
    fourth = _learner.stage_rows(X, 320, "float32")
    assert fourth.ctypes.data != address
    np.testing.assert_array_equal(adopted[:250], X[:250].astype(np.float32))
    assert len(_learner._spares) == 2
    monkeypatch.setattr(_learner, "_SPARE_MAX_BYTES", 8192)  # room for two buffers of 3,904 bytes
    _learner.stage_rows(X, 320, "float64")  # 7,744 bytes: the two before are forgotten
    assert [spare.size for spare in _learner._spares] == [320 * 3 * 8 + _learner._ALIGN]


@pytest.mark.filterwarnings("ignore:MLPClassifier did not converge")
@pytest.mark.parametrize("layout", ["rows", "columns", "sparse"])
def test_an_accelerator_gets_a_large_x_in_parts_and_fits_and_predicts_as_from_one_piece(monkeypatch, layout):
    import scipy.sparse

    from fieldguide.models import MLPClassifier

    X = features(n=3000).astype(np.float32)
    X = {"rows": X, "columns": np.asfortranarray(X), "sparse": scipy.sparse.csr_array(X * (X > 0.5))}[layout]
    y = target("binary", features(n=3000))
    estimators = [LogisticRegression(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)]

    def outcome(estimator) -> tuple:
        estimator.fit(X, y)
        weights = estimator.coef_ if isinstance(estimator, LogisticRegression) else estimator.coefs_[0]
        return weights, estimator.predict_proba(X)

    expected = [outcome(estimator) for estimator in estimators]
    joined = []
    join = _learner._join
    monkeypatch.setattr(_learner, "_join", lambda parts: joined.append(len(parts)) or join(parts))
    monkeypatch.setattr(_learner, "_SEND_BYTES", (8192, 1 << 20))
    monkeypatch.setattr(_learner, "_SEND_PART_BYTES", 4096)
    monkeypatch.setattr(_learner, "_default_platform", lambda: "gpu")  # what a GPU's fit does, on the CPU
    # the same numbers: to the bit on the CPU; a GPU adds a sparse X's products in no fixed order, run to run
    rtol = 0 if jax.default_backend() == "cpu" else 1e-5
    for estimator, expected_outcome in zip(estimators, expected, strict=True):
        for got, want in zip(outcome(estimator), expected_outcome, strict=True):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    parts = 4 if layout == "sparse" else _learner._SEND_PARTS  # a dense X's 96 KB: 16 parts, not 24
    assert joined and max(joined) == parts
    for small_or_huge in (np.arange(10.0), np.zeros((1 << 20) // 8 + 1)):
        assert _learner._send_parts(small_or_huge) == 1  # in one piece, as jax.device_put sends it
        np.testing.assert_array_equal(_learner._send(small_or_huge), small_or_huge)


def test_a_buffer_is_staged_into_again_once_the_jax_array_that_adopted_it_is_deleted(monkeypatch):
    # JAX lets go of an adopted host buffer through its garbage-collection callback, not when the array is deleted:
    # without a collection a fit that follows another would stage into new memory
    monkeypatch.setattr(_learner, "_SPARE_MIN_BYTES", 1024)
    monkeypatch.setattr(_learner, "_spares", [])
    X = np.arange(900.0).reshape(300, 3)
    staged = _learner.stage_rows(X, 320, "float32")
    address = staged.ctypes.data
    gc_was_enabled = gc.isenabled()
    gc.disable()  # no collection at a chance moment
    try:
        adopted = jax.device_put(staged, jax.devices("cpu")[0])
        del staged
        (adopted * 2).block_until_ready()
        del adopted
        assert _learner.stage_rows(X, 320, "float32").ctypes.data == address
    finally:
        if gc_was_enabled:
            gc.enable()


def test_staging_tells_a_sum_that_overflows_from_a_non_finite_value(staging_threads):
    huge = np.full((200, 3), 3e38, np.float32)  # finite, but their sum is not
    np.testing.assert_array_equal(_learner.stage_rows(huge, 256, "float32")[:200], huge)
    huge[7, 2], huge[9, 1] = np.inf, -np.inf
    with pytest.raises(DataError, match=r"in 2 row\(s\), first at row 7, column 2$"):
        _learner.stage_rows(huge, 256, "float32")


@pytest.mark.parametrize(
    "row", [0, _learner._STAGE_ROWS - 1, _learner._STAGE_ROWS, 2 * _learner._STAGE_ROWS + 3]
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e39])  # 1e39 is finite in float64, inf in float32
def test_staging_names_the_first_non_finite_row_and_its_column(row, bad, staging_threads):
    X = np.zeros((2 * _learner._STAGE_ROWS + 10, 2))
    X[row, 1] = X[-1, 0] = bad
    with pytest.raises(
        DataError,
        match=rf"X: expected finite values in float32, found NaN or inf in 2 row\(s\), first at row {row}, column 1$",
    ):
        _learner.stage_rows(X, len(X), "float32")
    rows = np.arange(len(X))[::-1]  # the rows of a subset are reported in X's numbering
    with pytest.raises(DataError, match=rf"first at row {row}, column 1$"):
        _learner.stage_rows(X, len(X), "float32", rows)
    if bad == 1e39:
        assert _learner.stage_rows(X, len(X), "float64")[row, 1] == bad


def test_staging_feature_by_feature_casts_pads_and_names_the_first_non_finite_row(staging_threads):
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.normal(size=(1000, 5)))  # float64, column-major as pandas and Polars give it
    staged = _learner.stage_columns(X, 1024, "float32", n_cols=8)
    assert isinstance(staged, models.FeatureMajor) and staged.shape == (1024, 8)
    assert staged.T.flags.c_contiguous and staged.T.ctypes.data % _learner._ALIGN == 0
    np.testing.assert_array_equal(staged.T[:5, :1000], X.T.astype(np.float32))
    assert not staged.T[5:].any() and not staged.T[:, 1000:].any()
    rows = staged[10:13]  # row-major, as stage_rows holds them
    np.testing.assert_array_equal(rows[:, :5], X[10:13].astype(np.float32))
    X[700, 3] = X[900, 0] = np.nan
    with pytest.raises(DataError, match=r"found NaN or inf in 2 row\(s\), first at row 700, column 3$"):
        _learner.stage_columns(X, 1024, "float32", n_cols=5)


@pytest.mark.parametrize(
    ("objective", "kind", "solver"),
    [
        (objectives.LogLoss() + penalties.L2(1e-2), "binary", "lbfgs"),
        (objectives.SoftmaxCrossEntropy() + penalties.L2(1e-2), "multiclass", "lbfgs"),
        (objectives.Poisson() + penalties.L2(1e-2), "count", "lbfgs"),
        (objectives.SquaredError() + penalties.L1(0.05), "real", "fista"),
    ],
)
@pytest.mark.parametrize("n", [150, 5000], ids=["padded columns", "wide rows"])
def test_a_column_major_x_is_fitted_by_features_as_a_row_major_one(monkeypatch, objective, kind, solver, n):
    """pandas and Polars hand over a column-major X: a linear model's full-batch fit stages it feature by feature
    (a straight copy, where a row-major buffer needs a strided one) and follows the row-major fit's path to the
    same solution; a row-major X, and any model but a linear one, is staged by rows."""
    X = features(n=n) * [1.0, 10.0, 1.0, 0.1, 1.0]  # far from standard: the linear solvers' map takes part
    y = target(kind, X / [1.0, 10.0, 1.0, 0.1, 1.0])
    layouts = []
    stage = _learner.stage_columns
    monkeypatch.setattr(_learner, "stage_columns", lambda *a: layouts.append("features") or stage(*a))
    learner = Learner(models.Linear(), objective, "lbfgs", dtype="float64", tol=1e-10, verbose=False)
    by_rows = learner.fit(X, y)
    by_features = learner.fit(np.asfortranarray(X), y)
    assert layouts == ["features"]
    # sums over X in another order round differently: L-BFGS's losses stay within 1e-10 of each other all along,
    # FISTA's restarts and backtracking (each a comparison of losses) part the two paths late, at equal loss
    rtol = 1e-6 if solver == "fista" else 1e-8
    for got, want in zip(jax.tree.leaves(by_features.params), jax.tree.leaves(by_rows.params), strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)
    assert by_features.history["loss"][-1] == pytest.approx(by_rows.history["loss"][-1], rel=1e-12)
    if solver == "fista":
        assert (np.asarray(by_features.params["coef"]) == 0).any()
    else:
        np.testing.assert_allclose(by_features.history["loss"], by_rows.history["loss"], rtol=1e-10)
    mlp = Learner(models.MLP(hidden=(3,)), objective, "lbfgs", dtype="float64", max_iter=5, verbose=False)
    mlp.fit(np.asfortranarray(X), y)
    assert layouts == ["features"]


def test_float64_input_fits_as_its_float32_cast():
    X = features()
    y = target("binary", X)
    a = LOGLOSS.fit(X, y).params
    b = LOGLOSS.fit(X.astype(np.float32), y).params
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def _small_mlp() -> Learner:
    return Learner(
        models.MLP(hidden=(4,)),
        objectives.LogLoss(),
        optax_optimizer("adam", learning_rate=1e-2),
        verbose=False,
    )


def test_an_optax_fit_continued_from_its_state_is_the_fit_one_call_would_make():
    X = features(n=500)
    y = target("binary", X)
    learner = _small_mlp()
    whole = learner.fit(X, y, epochs=3, batch_size=64, seed=1)
    part = learner.fit(X, y, epochs=1, batch_size=64, seed=1)
    for _ in range(2):  # the seed no longer matters: the key comes with the state
        part = learner.fit(
            X, y, epochs=1, batch_size=64, seed=7, init_params=part.params, init_state=part.opt_state
        )
    for a, b in zip(jax.tree.leaves(part.params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="init_state does not fit this optimizer"):
        learner.fit(X, y, epochs=1, init_params=part.params, init_state=part.opt_state["optimizer"])
    wider = dataclasses.replace(learner, model=models.MLP(hidden=(5,)))
    with pytest.raises(ValueError, match="init_state does not fit this optimizer"):
        wider.fit(X, y, epochs=1, init_state=part.opt_state)
    full_batch = Learner(models.Linear(), objectives.LogLoss(), verbose=False)
    assert full_batch.fit(X, y).opt_state is None
    with pytest.raises(ValueError, match="'lbfgs' keeps none"):
        full_batch.fit(X, y, init_state=part.opt_state)


@pytest.mark.parametrize(
    ("objective", "kind"),
    [
        (objectives.LogLoss(), "binary"),
        (objectives.SoftmaxCrossEntropy(3), "multiclass"),
        (objectives.SquaredHinge(), "binary"),
        (objectives.SquaredError(), "regression"),
        (objectives.SquaredError(), "two outputs"),
        (objectives.SquaredError(), "constant"),
        (objectives.Poisson(), "counts"),
    ],
)
def test_objective_scores_are_scikit_learns_weighted_accuracy_and_r2(objective, kind):
    from sklearn.metrics import accuracy_score, r2_score

    rng = np.random.default_rng(0)
    n = 200
    w = rng.uniform(0.1, 2.0, n)
    outputs = rng.normal(size=(n, 3 if kind == "multiclass" else 2 if kind == "two outputs" else 1))
    if kind in ("binary", "multiclass"):
        y = rng.integers(0, outputs.shape[1] if kind == "multiclass" else 2, n)
        predicted = outputs.argmax(axis=1) if kind == "multiclass" else (outputs[:, 0] > 0).astype(int)
        expected = accuracy_score(y, predicted, sample_weight=w)
    else:
        y = {"constant": np.full((n, 1), 2.0), "counts": rng.poisson(2.0, (n, 1)).astype(float)}.get(
            kind, outputs + rng.normal(size=outputs.shape)
        )
        predicted = np.asarray(objective.link(jnp.asarray(outputs)))
        expected = r2_score(y, predicted.reshape(y.shape), sample_weight=w)
    got = objective.score(jnp.asarray(outputs), jnp.asarray(objective.encode(y.squeeze())), jnp.asarray(w))
    assert float(got) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("objective", "kind"),
    [
        (objectives.LogLoss(), "binary"),
        (objectives.SoftmaxCrossEntropy(3), "multiclass"),
        (objectives.SquaredError(), "real"),
        (objectives.Poisson(), "count"),
        (objectives.Gamma(), "positive"),
        (objectives.Tweedie(power=1.5), "tweedie"),
        (objectives.Tweedie(power=0), "positive"),
    ],
)
def test_constant_outputs_minimise_the_loss_of_a_constant(objective, kind):
    """The closed form a fit starts its intercept from zeroes the weighted loss's gradient over constants."""
    X = features()
    y = objective.encode(target(kind, X))
    w = np.random.default_rng(2).uniform(0.1, 2.0, len(y))
    start = objective.constant_outputs(y, w)
    assert start.shape == (objective.n_outputs(y[:, 0]),)

    def loss(c):
        return objective.loss(jnp.broadcast_to(c, (len(y), c.size)), jnp.asarray(y), jnp.asarray(w))

    with jax.enable_x64():
        np.testing.assert_allclose(jax.grad(loss)(jnp.asarray(start)), 0.0, atol=1e-12)


def test_constant_outputs_are_none_without_a_finite_closed_form():
    """The fit then starts at zero, as it does for a model without an intercept."""
    y, w = np.array([[0.0], [1.0], [3.0]]), np.ones(3)
    assert objectives.Huber().constant_outputs(y, w) is None  # a median-like constant: no closed form
    assert objectives.Poisson().constant_outputs(np.zeros((4, 1)), np.ones(4)) is None  # its best is -inf
    assert (
        objectives.SoftmaxCrossEntropy(3).constant_outputs(np.zeros((4, 1)), np.ones(4)) is None
    )  # no class 1, 2
    assert objectives.LogLoss().constant_outputs(np.ones((4, 1)), np.ones(4)) is None  # all positive


def test_full_batch_fits_start_the_intercept_at_the_best_constant():
    """Counts averaging e^5: from a zero intercept L-BFGS spends its first steps finding the level."""
    X = features(n=2000)
    y = np.random.default_rng(0).poisson(np.exp(5.0 + 0.3 * X @ TRUE_COEF)).astype(float)
    learner = Learner(models.Linear(), objectives.Poisson() + penalties.L2(1e-3), dtype="float64", tol=1e-8)
    started = learner.fit(X, y)
    zeros = learner.fit(X, y, init_params={"coef": np.zeros((X.shape[1], 1)), "intercept": np.zeros(1)})
    assert started.history["converged"] and zeros.history["converged"]
    assert started.history["n_fun"] < zeros.history["n_fun"]
    for key in ("coef", "intercept"):
        np.testing.assert_allclose(started.params[key], zeros.params[key], rtol=1e-7)


def test_early_stopping_can_watch_the_score():
    X = features(n=400)
    y = target("binary", X)
    learner = _small_mlp()
    fitted = learner.fit(X, y, epochs=30, validation_fraction=0.2, patience=2, monitor="score")
    history = fitted.history
    assert len(history["val_score"]) == len(history["val_loss"]) == history["n_iter"]
    assert history["best_epoch"] == 1 + int(np.argmax(history["val_score"]))  # the first of the best
    with pytest.raises(ValueError, match="monitor='score' watches the validation rows"):
        learner.fit(X, y, epochs=3, monitor="score")
    with pytest.raises(ValueError, match="monitor must be 'loss' or 'score'"):
        learner.fit(X, y, epochs=3, validation_fraction=0.2, monitor="accuracy")


def test_without_shuffling_minibatches_take_the_rows_in_order():
    X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)  # near standard: no preconditioning
    y = X @ np.float32([1.0, -2.0, 0.5])
    learner = Learner(
        models.Linear(), objectives.SquaredError(), optax_optimizer("sgd", learning_rate=0.1), verbose=False
    )
    fitted = learner.fit(X, y, epochs=2, batch_size=50, shuffle=False)
    params = {"coef": jnp.zeros((3, 1)), "intercept": jnp.zeros(1)}

    def loss(p, Xb, yb):
        return 0.5 * jnp.mean(jnp.square(Xb @ p["coef"] + p["intercept"] - yb))

    for _ in range(2):
        for start in range(0, 200, 50):
            grad = jax.grad(loss)(params, X[start : start + 50], y[start : start + 50, None])
            params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grad)
    np.testing.assert_allclose(fitted.params["coef"], params["coef"], rtol=1e-5)
    shuffled = learner.fit(X, y, epochs=2, batch_size=50)
    assert not np.allclose(shuffled.params["coef"], params["coef"], rtol=1e-5)


def test_a_classifiers_validation_rows_keep_each_class_share():
    rng = np.random.default_rng(0)
    labels = (rng.random(1000) < 0.1).astype(float)  # 89 of class 1
    order = rng.permutation(1000)
    arranged = _learner._stratified(order, labels, 100)
    assert sorted(arranged) == list(range(1000))
    held = labels[arranged[:100]]
    assert held.sum() == 9 and (held == 0).sum() == 91  # 8.9 and 91.1, rounded by largest remainder
    # each class's rows are taken in the seeded order: the split is as random as before, stratified
    assert list(arranged[:100][held == 1]) == [i for i in order if labels[i] == 1][:9]
    three = rng.integers(0, 3, 997).astype(float)
    counts = np.bincount(three[_learner._stratified(rng.permutation(997), three, 150)[:150]].astype(int))
    assert np.all(np.abs(counts - np.bincount(three.astype(int)) * 150 / 997) < 1) and counts.sum() == 150
