"""MLPs reach scikit-learn's accuracy with the same architecture and budget; factorization machines learn
pairwise interactions a linear model cannot."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import sklearn.linear_model as sklm
import sklearn.neural_network as sknn
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fieldguide import models
from fieldguide.core import models as core_models
from fieldguide.errors import DataError

# the comparisons run fixed epoch budgets, which scikit-learn warns about
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SHARED = Path("/work/shared/datasets")
SAME = {"hidden_layer_sizes": (64, 64), "alpha": 1e-4, "batch_size": 64, "learning_rate_init": 1e-3}


def _split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("loader", [load_digits, load_breast_cancer], ids=["digits", "breast_cancer"])
def test_mlp_classifier_matches_sklearn_accuracy(loader):
    X_train, X_test, y_train, y_test = _split(*loader(return_X_y=True))
    budget = {"max_iter": 30, "n_iter_no_change": 30, "random_state": 0}  # every epoch, in both libraries
    ours = models.MLPClassifier(**SAME, **budget).fit(X_train, y_train)
    ref = sknn.MLPClassifier(**SAME, **budget).fit(X_train, y_train)
    assert ours.score(X_test, y_test) >= ref.score(X_test, y_test) - 0.01
    assert len(ours.loss_curve_) == 30 and ours.loss_curve_[-1] < ours.loss_curve_[0]


def test_mlp_regressor_matches_sklearn_r2():
    X, y = make_friedman1(n_samples=1000, noise=0.5, random_state=0)
    X_train, X_test, y_train, y_test = _split(X, y)
    # 200 epochs: both converge (scikit-learn's fits y as it is, so its first tens of epochs mostly fit its mean)
    budget = {"max_iter": 200, "n_iter_no_change": 200, "random_state": 0}
    ours = models.MLPRegressor(**SAME, **budget).fit(X_train, y_train)
    ref = sknn.MLPRegressor(**SAME, **budget).fit(X_train, y_train)
    assert ours.score(X_test, y_test) >= ref.score(X_test, y_test) - 0.01


def _priced(n: int = 1500, seed: int = 0):
    """A target in a currency's units: 180,000 ± 80,000 around a non-linear function of 8 standard columns."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    f = np.tanh(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.3 * X[:, 3]
    return X, 180_000 + 80_000 * f + 10_000 * rng.normal(size=n)


@pytest.mark.parametrize(
    "make",
    [
        lambda: models.MLPRegressor((32,), max_iter=100, random_state=0),
        lambda: models.FactorizationMachineRegressor(rank=4, max_iter=100, random_state=0),
    ],
    ids=["mlp", "fm"],
)
def test_a_regressor_trained_by_steps_fits_a_target_in_its_own_units_as_a_standardised_one(make):
    """scikit-learn's MLP on y as it is ends far from y's level; with y standardised
    (``TransformedTargetRegressor`` + ``StandardScaler``) it fits, and so does fieldguide's, which builds that in and
    leaves its parameters and predictions in y's units."""
    X, y = _priced()
    X_train, X_test, y_train, y_test = X[:1000], X[1000:], y[:1000], y[1000:]
    model = make().fit(X_train, y_train)
    shift, scale = y_train.mean(), y_train.std()
    assert (model.target_shift_, model.target_scale_) == pytest.approx((shift, scale), rel=1e-12)
    by_hand = make().fit(X_train, (y_train - shift) / scale)  # the standardised fit, mapped back by hand
    resolution = 1e-6 * np.abs(y).max()  # float32 resolves predictions near 2e5 to steps of 0.016
    np.testing.assert_allclose(
        model.predict(X_test), shift + scale * by_hand.predict(X_test), atol=resolution
    )
    assert model.loss_curve_ == by_hand.loss_curve_  # in the standardised units
    if isinstance(model, models.MLPRegressor):  # the output layer is in y's units
        outputs = np.maximum(X_test @ model.coefs_[0] + model.intercepts_[0], 0) @ model.coefs_[1]
        np.testing.assert_allclose(
            outputs[:, 0] + model.intercepts_[1], model.predict(X_test), atol=resolution
        )
        same = {"hidden_layer_sizes": (32,), "max_iter": 100, "random_state": 0}
        raw = sknn.MLPRegressor(**same).fit(X_train, y_train).score(X_test, y_test)
        scaled = TransformedTargetRegressor(sknn.MLPRegressor(**same), transformer=StandardScaler())
        reference = scaled.fit(X_train, y_train).score(X_test, y_test)
        assert raw < 0 < reference - 0.02 <= model.score(X_test, y_test)  # worse than the mean, as it stands
    else:
        assert model.score(X_test, y_test) > 0.8


def test_partial_fit_and_warm_start_go_on_in_the_first_fits_units():
    X, y = _priced(600)
    same = {"hidden_layer_sizes": (8,), "random_state": 0, "dtype": "float64", "shuffle": False}
    whole = models.MLPRegressor(max_iter=3, tol=0.0, n_iter_no_change=10, **same).fit(X, y)
    steps = models.MLPRegressor(**same)
    for _ in range(3):
        steps.partial_fit(X, y)
    np.testing.assert_allclose(_leaves(steps.params_), _leaves(whole.params_), rtol=1e-9)
    first = (steps.target_shift_, steps.target_scale_)
    steps.partial_fit(X[:100], y[:100] * 10)  # another scale of y: the units stay the first call's
    assert (steps.target_shift_, steps.target_scale_) == first
    warm = models.MLPRegressor(max_iter=2, warm_start=True, **same).fit(X, y)
    warm.fit(X, y + 1e6)
    assert (warm.target_shift_, warm.target_scale_) == first and warm.n_iter_ == 4
    poisson = models.MLPRegressor(loss="poisson", max_iter=2, **same).fit(X, np.round(np.abs(y) / 1e4))
    assert (poisson.target_shift_, poisson.target_scale_) == (0.0, 1.0)  # counts are fitted as they are


def test_early_stopping_stops_and_keeps_validation_curve():
    X_train, _, y_train, _ = _split(*load_breast_cancer(return_X_y=True))
    model = models.MLPClassifier(
        hidden_layer_sizes=(32,),
        learning_rate_init=3e-2,
        max_iter=300,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X_train, y_train)
    assert model.n_iter_ < 300
    assert len(model.validation_loss_curve_) == len(model.validation_scores_) == model.n_iter_
    assert model.loss_ == model.loss_curve_[-1] and model.best_loss_ is None  # as scikit-learn's
    # it watches the validation accuracy as scikit-learn does, and keeps the best epoch's parameters
    scores = np.float32(model.validation_scores_)
    assert (
        _stop_by_scikit_learns_rule(scores, np.float32(model.tol), 3, higher_is_better=True) == model.n_iter_
    )
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert set(np.round(scores * 40, 4)) <= set(np.arange(41.0))  # accuracies on 40 held-out rows
    without = models.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X_train, y_train)
    assert without.validation_scores_ is None and without.best_validation_score_ is None


def test_early_stopping_regressors_watch_the_validation_r2():
    X, y = make_friedman1(n_samples=600, noise=0.5, random_state=0)
    X_train, _, y_train, _ = _split(X, y)
    model = models.MLPRegressor(
        (16,), learning_rate_init=1e-2, max_iter=500, early_stopping=True, random_state=0
    )
    model.fit(X_train, y_train)
    assert model.converged_ and model.n_iter_ < 500
    scores = np.float32(model.validation_scores_)
    assert (
        _stop_by_scikit_learns_rule(scores, np.float32(model.tol), 10, higher_is_better=True) == model.n_iter_
    )
    assert 0.5 < model.best_validation_score_ <= 1.0


@pytest.mark.parametrize("early_stopping", [False, True], ids=["training-loss", "early-stopping"])
def test_a_fit_stops_after_as_many_epochs_without_improvement_as_scikit_learns(early_stopping):
    """With a tol no epoch can beat, the first epoch is the best: both libraries stop n_iter_no_change + 1
    epochs later."""
    X_train, _, y_train, _ = _split(*load_breast_cancer(return_X_y=True))
    same = {"hidden_layer_sizes": (4,), "tol": 1e9, "n_iter_no_change": 3, "early_stopping": early_stopping}
    ours = models.MLPClassifier(**same, random_state=0).fit(X_train, y_train)
    ref = sknn.MLPClassifier(**same, random_state=0).fit(X_train, y_train)
    assert ours.n_iter_ == ref.n_iter_ == 5 and ours.converged_


def test_a_fit_without_early_stopping_ends_when_its_training_loss_levels_off():
    X, y = make_friedman1(n_samples=500, noise=0.5, random_state=0)
    X_train, _, y_train, _ = _split(X, y)
    model = models.MLPRegressor((16,), learning_rate_init=1e-2, max_iter=2000, random_state=0)
    model.fit(X_train, y_train)
    assert model.converged_ and model.n_iter_ < 2000
    assert (
        _stop_by_scikit_learns_rule(np.float32(model.loss_curve_), np.float32(model.tol), 10) == model.n_iter_
    )


def _stop_by_scikit_learns_rule(watched, tol, n_iter_no_change: int, higher_is_better: bool = False):
    """The epoch at which scikit-learn's ``_update_no_improvement_count`` stops a fit watching these values."""
    sign = -1 if higher_is_better else 1
    best, bad = np.inf, 0
    for epoch, value in enumerate(watched, start=1):
        value = sign * value
        bad = bad + 1 if value > best - tol else 0  # the count restarts on an improvement by tol...
        best = min(best, value)  # ...and the best moves on any improvement
        if bad > n_iter_no_change:
            return epoch
    return None


def test_loss_and_best_loss_read_the_loss_curve_as_scikit_learn_does():
    X_train, _, y_train, _ = _split(*load_breast_cancer(return_X_y=True))
    model = models.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X_train, y_train)
    assert len(model.loss_curve_) == 5
    assert model.loss_ == model.loss_curve_[-1] and model.best_loss_ == min(model.loss_curve_)


def test_factorization_machine_learns_interactions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = X[:, 0] * X[:, 1] - X[:, 2] * X[:, 3] + 0.5 * X[:, 0]
    fm = models.FactorizationMachineRegressor(rank=4, max_iter=40, random_state=0).fit(X[:1500], y[:1500])
    linear = models.Ridge().fit(X[:1500], y[:1500])
    assert fm.score(X[1500:], y[1500:]) > 0.9 > linear.score(X[1500:], y[1500:]) + 0.5
    labels = models.FactorizationMachineClassifier(rank=4, max_iter=40, random_state=0).fit(
        X[:1500], y[:1500] > 0
    )
    assert labels.score(X[1500:], y[1500:] > 0) > 0.85


def test_random_state_makes_fits_reproducible():
    X, y = load_breast_cancer(return_X_y=True)
    fits = [
        models.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=7).fit(X, y) for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


LETTERS = SHARED / "letter_recognition.csv.gz"


@pytest.mark.skipif(not LETTERS.exists(), reason=f"optional dataset {LETTERS} absent")
def test_mlp_on_letter_recognition_if_present():
    import polars as pl

    table = pl.read_csv(LETTERS).head(6000)
    X, y = table.drop("lettr").to_numpy().astype(float), table["lettr"].to_numpy()
    X_train, X_test, y_train, y_test = _split(X, y)
    budget = {"max_iter": 10, "n_iter_no_change": 10, "random_state": 0}
    ours = models.MLPClassifier(**SAME, **budget).fit(X_train, y_train)
    ref = sknn.MLPClassifier(**SAME, **budget).fit(X_train, y_train)
    assert ours.score(X_test, y_test) >= ref.score(X_test, y_test) - 0.01


def test_coefs_follow_the_layers_in_order_with_ten_or_more_hidden_layers():
    X = np.random.default_rng(0).normal(size=(40, 3))
    sizes = tuple(range(2, 14))  # 12 hidden layers: "layer_10" sorts before "layer_2"
    model = models.MLPRegressor(hidden_layer_sizes=sizes, max_iter=2, random_state=0).fit(X, X[:, 0])
    assert [c.shape for c in model.coefs_] == list(zip((3, *sizes), (*sizes, 1), strict=True))
    assert [b.shape for b in model.intercepts_] == [(k,) for k in (*sizes, 1)]
    forward = X
    for weight, bias in zip(model.coefs_[:-1], model.intercepts_[:-1], strict=True):
        forward = np.maximum(forward @ weight + bias, 0.0)
    np.testing.assert_allclose(
        forward @ model.coefs_[-1][:, 0] + model.intercepts_[-1], model.predict(X), rtol=1e-4, atol=1e-5
    )


def _problem(n=1000, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)


@pytest.mark.parametrize("estimator", [models.MLPClassifier, models.FactorizationMachineClassifier])
def test_partial_fit_epoch_by_epoch_is_the_fit_of_as_many_epochs(estimator):
    X, y = _problem()
    settings = {"max_iter": 3, "random_state": 0, "learning_rate_init": 1e-2}
    whole = estimator(**settings).fit(X, y)
    assert whole.loss_curve_ == sorted(
        whole.loss_curve_, reverse=True
    )  # improving: the last epoch is the best
    stepwise = estimator(**settings)
    for _ in range(3):
        assert stepwise.partial_fit(X, y, classes=[0, 1]) is stepwise
    assert stepwise.n_iter_ == 3 and stepwise.loss_curve_ == whole.loss_curve_
    for ours, theirs in zip(jax.tree.leaves(stepwise.params_), jax.tree.leaves(whole.params_), strict=True):
        np.testing.assert_array_equal(ours, theirs)  # the same shuffles and Adam state: the same training


def test_partial_fit_learns_from_batches_of_new_rows():
    X, _ = _problem(n=6000)
    model = models.MLPRegressor((16,), random_state=0, learning_rate_init=1e-2)
    scores = []
    for rows in np.array_split(np.arange(5000), 10):  # a stream of 500-row batches, each seen once
        model.partial_fit(X[rows], X[rows, 0] * X[rows, 1])
        scores.append(model.score(X[5000:], X[5000:, 0] * X[5000:, 1]))
    assert model.n_iter_ == 10 and len(model.loss_curve_) == 10
    assert scores[-1] > scores[0] + 0.2 and scores[-1] > 0.5


def test_partial_fit_checks_classes_and_features():
    X, y = _problem()
    model = models.MLPClassifier((4,), random_state=0)
    with pytest.raises(ValueError, match="first call to partial_fit needs classes"):
        model.partial_fit(X, y)
    model.partial_fit(X[y == 0], y[y == 0], classes=np.array([1, 0, 1]))  # one class in this batch is fine
    assert model.classes_.tolist() == [0, 1] and model.predict_proba(X).shape == (1000, 2)
    with pytest.raises(ValueError, match=r"y has labels that are not in classes=\[0, 1\]: \[7\]"):
        model.partial_fit(X, np.where(y == 1, 7, 0))
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2\] differ from the first call's \[0, 1\]"):
        model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="3 features, but MLPClassifier is expecting 4"):
        model.partial_fit(X[:, :3], y)
    assert model.n_iter_ == 1  # the refused calls changed nothing


def test_warm_start_continues_from_the_previous_fit():
    X, y = _problem()
    cold = models.MLPClassifier((8,), max_iter=3, random_state=0)
    warm = models.MLPClassifier((8,), max_iter=3, random_state=0, warm_start=True)
    for model in (cold, warm):
        model.fit(X, y).fit(X, y)
    assert cold.n_iter_ == 3 and warm.n_iter_ == 6 and len(warm.loss_curve_) == 6
    assert warm.loss_curve_[:3] == cold.loss_curve_  # the first fit is the same
    assert warm.loss_curve_[3] < warm.loss_curve_[2]  # the second starts where it ended, not afresh
    with pytest.raises(
        ValueError, match=r"warm_start needs y to have the classes of the previous fit \[0, 1\]"
    ):
        warm.fit(X, y + 1)


@pytest.mark.parametrize(
    ("settings", "optimizer"),
    [
        (
            {"solver": "adam", "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
            lambda r: optax.adam(r, 0.5, 0.9, 1e-3),
        ),
        (
            {"solver": "sgd", "momentum": 0.5, "nesterovs_momentum": False},
            lambda r: optax.sgd(r, momentum=0.5),
        ),
        ({"solver": "sgd", "momentum": 0.7}, lambda r: optax.sgd(r, momentum=0.7, nesterov=True)),
        ({"solver": "sgd", "momentum": 0.0}, lambda r: optax.sgd(r)),
    ],
    ids=["adam", "sgd-momentum", "sgd-nesterov", "sgd-plain"],
)
def test_solver_settings_train_as_the_optax_optimizer_they_name(settings, optimizer):
    """A warm start from a first fit's parameters, then three full-batch steps: the same as three steps of the
    named Optax optimizer, by hand, on scikit-learn's objective (mean log loss + alpha/(2·batch)·||W||²)."""
    X, y = _problem(n=64)
    X = X.astype(np.float32)
    same = {"hidden_layer_sizes": (3,), "learning_rate_init": 0.05, "batch_size": 64, "random_state": 0}
    model = models.MLPClassifier(**same, **settings, max_iter=1, warm_start=True).fit(X, y)
    params = jax.tree.map(jnp.asarray, model.params_)
    model.set_params(max_iter=3).fit(X, y)  # continues from params with a fresh optimizer

    def loss(p):
        out = core_models.MLP(hidden=(3,)).apply(p, X)[:, 0]
        weights = sum(jnp.sum(jnp.square(layer["weight"])) for layer in p.values())
        return jnp.mean(jnp.logaddexp(0.0, out) - y * out) + 0.5 * (1e-4 / 64) * weights

    opt = optimizer(0.05)
    state = opt.init(params)
    with jax.default_matmul_precision("highest"):  # as fieldguide fits (a GPU's default is TF32's 10 bits)
        for _ in range(3):
            updates, state = opt.update(jax.grad(loss)(params), state, params)
            params = optax.apply_updates(params, updates)
    assert model.n_iter_ == 4 and model.loss_curve_[-1] < model.loss_curve_[-2]  # the last step is the best
    for ours, by_hand in zip(jax.tree.leaves(model.params_), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(ours, by_hand, rtol=1e-5, atol=1e-6)


def test_lbfgs_solver_fits_full_batch_as_scikit_learns():
    X_train, X_test, y_train, y_test = _split(*load_digits(return_X_y=True))
    same = {"hidden_layer_sizes": (32,), "solver": "lbfgs", "random_state": 0}
    ours = models.MLPClassifier(**same).fit(X_train, y_train)
    ref = sknn.MLPClassifier(**same).fit(X_train, y_train)
    assert ours.converged_ and ours.n_iter_ < 200  # stopped on its gradient, as scikit-learn's did
    assert ours.score(X_test, y_test) >= ref.score(X_test, y_test) - 0.02
    assert not hasattr(ours, "partial_fit") and hasattr(models.MLPClassifier(), "partial_fit")
    assert ours.validation_scores_ is None


def _counts(n: int, seed: int = 0):
    """Poisson counts whose log rate is a non-linear function of six standard normal columns."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    rate = np.exp(0.5 + 0.6 * np.sin(2 * X[:, 0]) + 0.4 * X[:, 1] * X[:, 2] - 0.3 * np.abs(X[:, 3]))
    return X, rng.poisson(rate).astype(float)


def test_a_poisson_mlp_without_hidden_layers_is_scikit_learns_poisson_regression():
    """No hidden layer leaves a log-linear model; scikit-learn's MLP penalty alpha/(2n)·||W||² is its GLMs'
    alpha/2·||w||² with alpha n times smaller: the same convex problem, the same solution."""
    X, y = _counts(600)
    ours = models.MLPRegressor(
        (), loss="poisson", solver="lbfgs", alpha=1e-3 * len(y), tol=1e-10, max_iter=1000, dtype="float64"
    ).fit(X, y)
    ref = sklm.PoissonRegressor(alpha=1e-3, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(ours.coefs_[0][:, 0], ref.coef_, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(ours.intercepts_[0][0], ref.intercept_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-6)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_poisson_mlp_predicts_counts_as_well_as_scikit_learns(solver):
    """Held-out deviance averaged over five seeds: one seed's deviance moves by several per cent with the
    initial weights in either library (scikit-learn's from 1.217 to 1.303 with L-BFGS), and an unconverged
    L-BFGS path with the rounding of the CPU it runs on."""
    X, y = _counts(4000)
    deviance = np.zeros((5, 2))
    for seed in range(5):
        same = {"hidden_layer_sizes": (32,), "solver": solver, "random_state": seed, "max_iter": 300}
        ours = models.MLPRegressor(loss="poisson", **same).fit(X[:3000], y[:3000])
        ref = sknn.MLPRegressor(loss="poisson", **same).fit(X[:3000], y[:3000])
        deviance[seed] = [mean_poisson_deviance(y[3000:], m.predict(X[3000:])) for m in (ours, ref)]
        assert (ours.predict(X) > 0).all()
    constant = mean_poisson_deviance(y[3000:], np.full(1000, y[:3000].mean()))
    mean = deviance.mean(axis=0)
    assert mean[0] <= 1.01 * mean[1] and mean[0] < 0.8 * constant, deviance
    with pytest.raises(DataError, match="Poisson expects non-negative values"):
        models.MLPRegressor(loss="poisson").fit(X, y - 1)


def test_max_fun_stops_lbfgs_after_as_many_evaluations_of_the_loss():
    X, y = _counts(500)
    same = {"hidden_layer_sizes": (8,), "loss": "poisson", "solver": "lbfgs", "random_state": 0}
    with pytest.warns(ConvergenceWarning, match="did not converge within max_fun=10 evaluations"):
        short = models.MLPRegressor(**same, max_fun=10).fit(X, y)
    full = models.MLPRegressor(**same).fit(X, y)
    assert not short.converged_ and short.n_iter_ < 10 < full.n_iter_  # the first evaluation precedes them
    assert short.loss_curve_ == full.loss_curve_[: short.n_iter_]  # the same path, cut short


def _leaves(params) -> np.ndarray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(params)])


def test_invscaling_sets_each_epochs_rate_from_the_rows_seen_as_scikit_learns():
    """scikit-learn's SGD after each epoch: rate = learning_rate_init / (t_ + 1) ** power_t, t_ the training rows
    seen. The same epochs fitted one partial_fit at a time, each at that constant rate, are the same fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ [1.0, -1.0, 0.5, 0.0] + 0.1 * rng.normal(size=200)
    same = {"hidden_layer_sizes": (5,), "solver": "sgd", "momentum": 0.0, "shuffle": False, "batch_size": 50}
    same |= {"random_state": 0, "dtype": "float64", "tol": 0.0, "n_iter_no_change": 100}
    schedule = {"learning_rate": "invscaling", "power_t": 0.5, "learning_rate_init": 0.05, "max_iter": 4}
    scheduled = models.MLPRegressor(**schedule, **same).fit(X, y)
    by_hand = models.MLPRegressor(**same)
    for epoch in range(4):
        by_hand.set_params(learning_rate_init=0.05 / (epoch * 200 + 1) ** 0.5).partial_fit(X, y)
    np.testing.assert_allclose(_leaves(scheduled.params_), _leaves(by_hand.params_), rtol=1e-12)
    assert scheduled.t_ == by_hand.t_ == 800
    rate = scheduled.optimizer_state_["optimizer"].hyperparams["learning_rate"]
    assert rate == pytest.approx(0.05 / 801**0.5, rel=1e-12)  # the rate the next epoch would take
    # partial_fit carries t_ on, as scikit-learn's does
    assert scheduled.partial_fit(X, y).t_ == 1000
    rate = scheduled.optimizer_state_["optimizer"].hyperparams["learning_rate"]
    assert rate == pytest.approx(0.05 / 1001**0.5, rel=1e-12)


@pytest.mark.parametrize("estimator", ["MLPClassifier", "MLPRegressor"])
def test_adaptive_divides_the_rate_by_five_where_scikit_learns_does(estimator):
    """With tol=10 no epoch after the first improves: every third epoch the rate is divided by 5 instead of
    stopping, until it is at most 1e-6; scikit-learn's fit takes as many epochs to reach the same rate."""
    X, y = _problem(n=200)
    same = {"hidden_layer_sizes": (5,), "solver": "sgd", "learning_rate": "adaptive", "tol": 10.0}
    same |= {"n_iter_no_change": 2, "random_state": 0}
    ours = getattr(models, estimator)(**same).fit(X, y)
    ref = getattr(sknn, estimator)(**same).fit(X, y)
    rate = ours.optimizer_state_["optimizer"].hyperparams["learning_rate"]
    assert ours.n_iter_ == ref.n_iter_ == 19  # 1 good epoch, then 6 plateaus of 3: five divisions, one stop
    assert rate == pytest.approx(1e-3 / 5**5, rel=1e-6) == ref._optimizer.learning_rate
    constant = getattr(models, estimator)(**{**same, "learning_rate": "constant"}).fit(X, y)
    assert constant.n_iter_ == 4


def test_schedules_apply_to_sgd_only_and_need_a_rate_in_the_state():
    X, y = _problem(n=100)
    adam = models.MLPClassifier((4,), learning_rate="adaptive", tol=10.0, n_iter_no_change=2, random_state=0)
    assert adam.fit(X, y).n_iter_ == 4  # as scikit-learn's: Adam ignores learning_rate
    from fieldguide.core import Learner, objectives

    learner = Learner(core_models.MLP(hidden=(3,)), objectives.LogLoss(), optax.sgd(0.1), verbose=False)
    with pytest.raises(ValueError, match=r"optax\.inject_hyperparams"):
        learner.fit(X, y, schedule="invscaling")
    with pytest.raises(ValueError, match="schedule must be one of"):
        learner.fit(X, y, schedule="cosine")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"learning_rate": "optimal"},
            "learning_rate must be 'constant', 'invscaling' or 'adaptive', got 'optimal'",
        ),
        ({"power_t": -1}, "power_t must be a number >= 0, got -1"),
        ({"solver": "newton"}, "solver must be 'adam', 'sgd' or 'lbfgs', got 'newton'"),
        ({"epsilon": 0.0}, "epsilon must be a number > 0, got 0.0"),
        ({"momentum": 2}, r"momentum must be a number in \[0, 1\], got 2"),
        ({"shuffle": "yes"}, "shuffle must be True or False, got 'yes'"),
        ({"max_fun": 0}, "max_fun must be an integer >= 1, got 0"),
    ],
)
def test_bad_solver_settings_are_named(bad, message):
    X, y = _problem(n=50)
    with pytest.raises(ValueError, match=f"MLPClassifier: {message}"):
        models.MLPClassifier(**bad).fit(X, y)


def test_a_regressors_loss_is_squared_error_or_poisson():
    X, y = _problem(n=50)
    expected = "MLPRegressor: loss must be 'squared_error' or 'poisson', got 'gamma'"
    with pytest.raises(ValueError, match=expected):
        models.MLPRegressor(loss="gamma").fit(X, y)
    assert "loss" not in models.MLPClassifier().get_params()  # scikit-learn's classifier has none either
