"""compare: the same folds for every model, scores that match scikit-learn on those folds, the Occam rule."""

from __future__ import annotations

import datetime as dt
import io
import json
import warnings

import jax
import numpy as np
import polars as pl
import pytest
from rich.console import Console
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import root_mean_squared_error

from fieldguide._stats import corrected_resampled_ttest
from fieldguide.backends import Backend, get_backend
from fieldguide.compare import Candidate, compare
from fieldguide.compare import _compare as compare_module
from fieldguide.compare._render import print_summary
from fieldguide.data import Featurizer, infer_schema, splits, synthetic
from fieldguide.errors import DataError, FieldguideError

FAST = {"folds": 3, "repeats": 1, "progress": False}


def ring_table(n_rows: int = 300, seed: int = 3) -> pl.DataFrame:
    """A nonlinear truth: the class is whether (x0, x1) lies outside a circle, which no linear model can draw."""
    table = synthetic.regression_table(n_rows, n_features=2, seed=seed)
    radius = table["x0"] ** 2 + table["x1"] ** 2
    return table.select("x0", "x1", "segment", outside=(radius > 1.4).cast(pl.Int64))


@pytest.fixture(scope="module")
def regression() -> pl.DataFrame:
    return synthetic.regression_table(150, n_features=3, seed=1)


def test_planted_nonlinear_winner_is_found_and_recommended():
    result = compare(ring_table(), "outside", models=["LogisticRegression", "MLPClassifier"], **FAST)
    summary = {row["model"]: row for row in result.summary.iter_rows(named=True)}
    assert result.metric.name == "roc_auc"
    assert summary["MLPClassifier"]["rank"] == 1
    assert summary["MLPClassifier"]["score_mean"] > 0.9 > summary["LogisticRegression"]["score_mean"] + 0.3
    assert summary["LogisticRegression"]["p"] < 0.05  # significantly worse, so simplicity does not win
    assert result.recommendation.model == "MLPClassifier"
    assert result.recommendation.t is None  # the best model itself: no test needed


def test_linear_truth_recommends_the_linear_model():
    # customers' churn follows a logistic model: the MLP cannot be significantly better than logistic regression
    result = compare(
        synthetic.customers(300, seed=0), "churn", models=["LogisticRegression", "MLPClassifier"], **FAST
    )
    recommendation = result.recommendation
    assert recommendation.model == "LogisticRegression"
    if recommendation.best != "LogisticRegression":  # not significantly worse than the best, with evidence
        assert recommendation.p >= 0.05 and recommendation.t is not None
    dummy = result.summary.filter(pl.col("model") == "DummyClassifier").row(0, named=True)
    assert dummy["p"] < 0.05  # the simplest model of all is significantly worse: it is not recommended


def test_ignored_columns_are_not_learned_from(regression):
    leaky = regression.with_columns(leak=pl.col("y") + 0.001 * pl.col("x0"))  # y, written after the fact
    kept, ignored = (
        compare(leaky, "y", models=["LinearRegression"], ignore=ignore, **FAST) for ignore in ((), ["leak"])
    )
    clean = compare(regression, "y", models=["LinearRegression"], **FAST)

    def scores(result):
        return result.results.filter(pl.col("model") == "LinearRegression").sort("repeat", "fold")["score"]

    np.testing.assert_allclose(scores(ignored), scores(clean), rtol=1e-9)  # the same folds, as if absent
    assert scores(kept).max() < 0.01 < scores(clean).min()  # RMSE: the leak is learned when not ignored


def test_declared_missing_values_are_compared_as_missing(regression):
    holes = regression.with_columns(x0=pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise("x0"))
    sentinel = holes.with_columns(pl.col("x0").fill_null(-999.0))
    written, declared = (
        compare(table, "y", models=["Ridge"], missing=missing, **FAST)
        for table, missing in ((holes, None), (sentinel, {"x0": [-999]}))
    )
    np.testing.assert_allclose(declared.results["score"], written.results["score"], rtol=1e-9)


def _dated(table: pl.DataFrame, seed: int = 5) -> pl.DataFrame:
    """``table`` with a shuffled day per row (the rows are not in time order)."""
    days = np.random.default_rng(seed).permutation(table.height)
    start = dt.datetime(2024, 1, 1)
    return table.with_columns(day=pl.Series([start + dt.timedelta(days=int(d)) for d in days]))


def test_time_ordered_folds_train_on_the_past_and_test_on_what_follows(regression):
    table = _dated(regression)
    result = compare(table, "y", models=["Ridge"], time="day", folds=4, progress=False)
    assert (result.repeats, result.time, result.scheme) == (1, "day", "4 time-ordered folds by 'day'")
    ridge = result.results.filter(pl.col("model") == "Ridge").sort("fold")
    assert ridge["n_train"].to_list() == [30, 60, 90, 120] and ridge["n_test"].to_list() == [30, 30, 30, 30]
    schema = infer_schema(table, "y")
    y = table["y"].to_numpy()
    for train, test in compare_module._time_folds(table, schema, "day", 4, 1, y, None):
        assert table["day"][train].max() < table["day"][test].min()
    assert json.loads(result.to_json())["time"] == "day"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"time": "when"},
            FieldguideError,
            r"time: 'when' is not a column; columns are x0, x1, x2, segment, y, day",
        ),
        ({"time": "y"}, FieldguideError, "time: 'y' is the target"),
        (
            {"time": "segment"},
            FieldguideError,
            "time: 'segment' is a categorical column; expected a datetime or",
        ),
        ({"time": "day", "repeats": 2}, FieldguideError, "time-ordered folds are the same on every repeat"),
    ],
)
def test_time_ordered_folds_refuse_what_cannot_order_them(regression, kwargs, error, message):
    with pytest.raises(error, match=message):
        compare(_dated(regression), "y", models=["Ridge"], progress=False, **kwargs)


def test_time_ordered_folds_need_a_time_on_every_row_and_every_class_in_the_past(regression):
    holes = _dated(regression).with_columns(day=pl.when(pl.col("x0") > 1.5).then(None).otherwise("day"))
    with pytest.raises(DataError, match=r"time: 'day' is missing in \d+ row\(s\)"):
        compare(holes, "y", models=["Ridge"], time="day", progress=False)
    late = _dated(ring_table(200)).with_columns(
        outside=pl.when(pl.col("day") > dt.datetime(2024, 5, 1)).then(pl.lit(2)).otherwise("outside")
    )  # class 2 appears only after the first training part
    with pytest.raises(
        DataError, match="time: class 2 has no row before fold 1's test rows; use fewer folds"
    ):
        compare(late, "outside", models=["LogisticRegression"], time="day", metric="log_loss", progress=False)


def test_every_model_is_scored_on_the_same_folds_as_scikit_learn_would_be(regression):
    result = compare(regression, "y", models=["LinearRegression"], folds=3, repeats=2, seed=7, progress=False)
    y = regression["y"].to_numpy()
    folds = list(splits.stratified_kfold(np.zeros(len(y)), k=3, seed=7, repeats=2))
    schema = infer_schema(regression, "y")
    # fieldguide's LinearRegression fits in float32 by default: agreement to 1e-3 (other folds differ by ~10 %)
    references = ((DummyRegressor(), "DummyRegressor", 1e-12), (LinearRegression(), "LinearRegression", 1e-3))
    for reference, name, rtol in references:
        rows = result.results.filter(pl.col("model") == name).sort("repeat", "fold")
        expected = []
        for train, test in folds:
            featurizer = Featurizer(schema).fit(regression[train])
            model = reference.fit(featurizer.transform(regression[train]), y[train])
            expected.append(
                root_mean_squared_error(y[test], model.predict(featurizer.transform(regression[test])))
            )
        np.testing.assert_allclose(rows["score"].to_numpy(), expected, rtol=rtol)
        assert rows["n_test"].to_list() == [len(test) for _, test in folds]


def test_each_folds_featurizer_is_fitted_once_for_every_model(regression, monkeypatch):
    fitted_on = []
    fit = Featurizer.fit

    def counting(self, frame):
        fitted_on.append(frame.height)
        return fit(self, frame)

    monkeypatch.setattr(Featurizer, "fit", counting)
    models = ["LinearRegression", "Ridge", "DecisionTreeRegressor"]
    result = compare(regression, "y", models=models, folds=3, repeats=2, progress=False)
    assert result.results.height == 4 * 6  # the dummy baseline and three models on six folds
    assert not compare_module._FEATURES  # the folds' features are not kept past the comparison
    assert (
        fitted_on
        == result.results.filter(pl.col("model") == "Ridge").sort("repeat", "fold")["n_train"].to_list()
    )


def test_recommendation_follows_the_corrected_t_test(regression):
    result = compare(
        regression, "y", models=["LinearRegression", "Lasso"], folds=3, repeats=2, progress=False
    )
    scores = {
        name: result.results.filter(pl.col("model") == name).sort("repeat", "fold")["score"].to_numpy()
        for name in ("DummyRegressor", "LinearRegression", "Lasso")
    }
    best = result.recommendation.best
    assert best == min(scores, key=lambda name: scores[name].mean())  # RMSE: lower is better
    n_train, n_test = round(result.results["n_train"].mean()), round(result.results["n_test"].mean())
    for row in result.summary.filter(pl.col("model") != best).iter_rows(named=True):
        expected = corrected_resampled_ttest(scores[row["model"]] - scores[best], n_train, n_test)
        assert row["p"] == pytest.approx(expected.p) and row["t"] == pytest.approx(expected.t)
        assert row["difference"] == pytest.approx(expected.mean)
    works = (pl.col("complexity") == 0) | (pl.col("p_dummy") < 0.05)
    eligible = result.summary.filter(((pl.col("p") >= 0.05) & works) | (pl.col("rank") == 1))
    # the simplest of them, and of equally simple ones the best ranked
    assert result.recommendation.model == eligible.sort("complexity", "rank")["model"][0]


def test_of_equally_simple_models_within_reach_the_best_scoring_is_recommended():
    """Both linear models are not significantly worse than the boosted one; the recommendation is the better of
    them, not the one faster to fit."""
    n = 10
    spread = np.array([-3.0, 3.0, -2.0, 2.0, -1.0, 1.0, -4.0, 4.0, -0.5, 0.5])
    rmse = {
        "Boosted": np.full(n, 10.0),
        "Huber": 11.0 + spread,  # slower, 10 % worse on average
        "Gamma": 17.0 + 8.0 * spread,  # faster, 70 % worse, but noisy enough to pass the test
    }
    fit_time = {"Boosted": 1.0, "Huber": 0.2, "Gamma": 0.1}
    results = pl.DataFrame(
        [
            {"model": name, "repeat": i // 5, "fold": i % 5, "score": float(scores[i]), "error": None,
             "fit_time_s": fit_time[name], "predict_time_s": 0.01, "n_train": 80, "n_test": 20}
            for name, scores in rmse.items()
            for i in range(n)
        ]
    )  # fmt: skip
    summary, recommendation = compare_module._summarize(
        results, compare_module.metric_for("rmse", "regression"), {"Boosted": 4, "Huber": 1, "Gamma": 1}
    )
    p = dict(summary.select("model", "p").iter_rows())
    assert recommendation.best == "Boosted" and p["Huber"] >= 0.05 and p["Gamma"] >= 0.05
    assert recommendation.model == "Huber"
    assert recommendation.explain(compare_module.metric_for("rmse", "regression")).endswith("and simpler.")


def _planted(rmse: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"model": name, "repeat": i // 5, "fold": i % 5, "score": float(scores[i]), "error": None,
             "fit_time_s": 0.1, "predict_time_s": 0.01, "n_train": 80, "n_test": 20, "warning": None}
            for name, scores in rmse.items()
            for i in range(len(scores))
        ],
        schema=compare_module._RESULT_SCHEMA,
    )  # fmt: skip


def test_a_model_the_test_cannot_tell_from_the_dummy_is_not_recommended():
    """One blown-up fold (a log link extrapolating on a test row) makes a model's spread so wide that the test
    can tell it neither from the best nor from the dummy: the simplest model that beats the dummy is chosen."""
    noise = np.array([-0.2, 0.2, -0.1, 0.1, 0.0, 0.3, -0.3, 0.1, -0.1, 0.0])
    rmse = {
        "Boosted": 10.0 + noise,
        "Tree": 10.5 + 2 * noise[::-1],
        "Blowup": np.array([9.0] * 9 + [300.0]),  # mean 38.1: 4x the best, and barely under the dummy's 40
        "Dummy": 40.0 + noise,
    }
    metric = compare_module.metric_for("rmse", "regression")
    summary, recommendation = compare_module._summarize(
        _planted(rmse), metric, {"Boosted": 4, "Tree": 2, "Blowup": 1, "Dummy": 0}
    )
    rows = {row["model"]: row for row in summary.iter_rows(named=True)}
    assert rows["Blowup"]["p"] >= 0.05 and rows["Blowup"]["p_dummy"] >= 0.05  # the old rule chose it
    assert rows["Tree"]["p"] >= 0.05 and rows["Tree"]["p_dummy"] < 0.05
    expected = corrected_resampled_ttest(rmse["Dummy"] - rmse["Tree"], 80, 20, alternative="greater")
    assert rows["Tree"]["p_dummy"] == pytest.approx(expected.p) and rows["Dummy"]["p_dummy"] is None
    assert (recommendation.model, recommendation.baseline) == ("Tree", "Dummy")
    assert f"significantly better than Dummy (p={expected.p:.3g}), and simpler." in recommendation.explain(
        metric
    )
    comparison = compare_module.Comparison("y", "regression", metric, 5, 2, 0, 100, _planted(rmse), summary,
                                           recommendation)  # fmt: skip
    out = io.StringIO()
    print_summary(comparison, Console(file=out, width=300))
    assert "Not recommended: Blowup (p=" in out.getvalue()
    assert "not significantly better than Dummy either" in out.getvalue()


def test_when_nothing_beats_the_dummy_the_dummy_is_recommended():
    rmse = {"Linear": 10.0 + np.array([1.0, -1.0] * 5), "Dummy": np.full(10, 10.0)}
    _, recommendation = compare_module._summarize(
        _planted(rmse), compare_module.metric_for("rmse", "regression"), {"Linear": 1, "Dummy": 0}
    )
    assert recommendation.model == "Dummy" and recommendation.p_baseline is None


def test_same_seed_same_results_and_another_seed_other_folds():
    table = ring_table()  # the planted-winner table: the MLP's compiled code is reused
    first, second, other = (
        compare(table, "outside", models=["MLPClassifier"], seed=seed, **FAST) for seed in (0, 0, 1)
    )
    columns = ["model", "repeat", "fold", "score", "n_train", "n_test"]
    assert first.results.select(columns).equals(second.results.select(columns))
    assert not first.results["score"].equals(other.results["score"])


class _FailsWithoutRowZero(RegressorMixin, BaseEstimator):
    """Fails unless the training rows start with the table's first row: on the one fold that holds it out."""

    def __init__(self, first_y: float = 0.0):
        self.first_y = first_y

    def fit(self, X, y):
        if y[0] != self.first_y:
            raise ValueError("planted failure")
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_a_failing_model_is_recorded_and_the_comparison_goes_on(monkeypatch, regression):
    planted = Candidate("Fragile", _FailsWithoutRowZero(regression["y"][0]), 0.5)
    zoo = compare_module.zoo
    monkeypatch.setattr(compare_module, "zoo", lambda task, seed=0: [*zoo(task, seed), planted])
    result = compare(regression, "y", models=["Ridge", "Fragile"], **FAST)
    failed = result.results.filter(pl.col("error").is_not_null())
    assert failed.select("model", "error").rows() == [("Fragile", "ValueError: planted failure")]
    assert result.results.filter(pl.col("model") == "Fragile")["score"].null_count() == 1
    fragile = result.summary.filter(pl.col("model") == "Fragile").row(0, named=True)
    assert fragile["rank"] is None and fragile["failed_folds"] == 1
    assert result.recommendation.model == "Ridge"
    written = [r for r in json.loads(result.to_json())["results"] if r["error"]]
    assert [(r["model"], r["score"]) for r in written] == [("Fragile", None)]


class _WarnsOnFit(DummyRegressor):
    def fit(self, X, y, sample_weight=None):
        warnings.warn("planted: stopped early", ConvergenceWarning, stacklevel=2)
        return super().fit(X, y, sample_weight)


_FITS: dict[str, int] = {}
_HALVE = jax.jit(lambda x: x / 2)  # this module's own program: compiled on its first call in the process


class _CountsFits(RegressorMixin, BaseEstimator):
    """Counts its fits under ``name``; with ``jax=True`` each fit runs a compiled program (compiled once)."""

    def __init__(self, name: str = "", jax: bool = False):
        self.name = name
        self.jax = jax

    def fit(self, X, y):
        _FITS[self.name] = _FITS.get(self.name, 0) + 1
        self.mean_ = float(_HALVE(np.float32(2 * np.mean(y)))) if self.jax else float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_a_fold_is_fitted_again_only_when_its_fit_compiled_jax_code(monkeypatch, regression):
    """The second fit keeps compilation out of the fit time; a model that compiles nothing is fitted once a fold."""
    planted = [
        Candidate("Plain", _CountsFits("Plain"), 0.5),
        Candidate("Compiling", _CountsFits("Compiling", True), 0.5),
    ]
    zoo = compare_module.zoo
    monkeypatch.setattr(compare_module, "zoo", lambda task, seed=0: [*zoo(task, seed), *planted])
    _FITS.clear()
    result = compare(regression, "y", models=["Plain", "Compiling"], **FAST)
    assert _FITS == {"Plain": 3, "Compiling": 4}  # 3 folds; the first compiled the program, and ran again
    assert result.results.filter(pl.col("model") == "Compiling")["score"].is_not_null().all()


def test_in_process_scikit_learns_models_take_every_core_and_the_boosters_one(monkeypatch, regression):
    candidates = compare_module.zoo("regression")
    compare_module._use_every_core(candidates)
    threads = {
        c.name: c.estimator.get_params()["n_jobs"] for c in candidates if "n_jobs" in c.estimator.get_params()
    }
    assert threads["RandomForestRegressor"] == threads["KNeighborsRegressor"] == -1
    assert threads["LGBMRegressor"] == 1
    given = []
    monkeypatch.setattr(compare_module, "_use_every_core", lambda c: given.append([x.name for x in c]))
    compare(regression, "y", models=["Ridge"], **FAST)  # the default back end: this process
    compare(regression, "y", models=["Ridge"], backend=_InProcess(), **FAST)  # workers of its own
    assert given == [["Ridge", "DummyRegressor"]]


class _InProcess(Backend):
    """A back end compare knows nothing about (it might run tasks anywhere)."""

    def map(self, fn, items, *, shared=None, **_):
        return [fn(item, shared) for item in items]


def test_a_models_warnings_are_noted_once_after_the_table_not_printed_per_fold(monkeypatch, regression):
    planted = Candidate("Noisy", _WarnsOnFit(), 0.5)
    zoo = compare_module.zoo
    monkeypatch.setattr(compare_module, "zoo", lambda task, seed=0: [*zoo(task, seed), planted])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes to the terminal while the folds run
        result = compare(regression, "y", models=["Ridge", "Noisy"], **FAST)
    noted = result.results.filter(pl.col("warning").is_not_null())
    assert noted["model"].to_list() == ["Noisy"] * 3
    assert noted["warning"][0] == "ConvergenceWarning: planted: stopped early"
    console = Console(record=True, width=200)
    print_summary(result, console)
    note = "Noisy warned on 3 of 3 fold(s): ConvergenceWarning: planted: stopped early"
    assert note in console.export_text()
    assert note in result.to_html()


@pytest.mark.slow  # spawned workers and Ray workers each import JAX and compile: tens of seconds
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray starts its daemons with fork + exec
@pytest.mark.xdist_group("ray")
def test_processes_and_ray_give_the_same_per_fold_scores(regression, ray_session):
    options = {"models": ["Ridge"], "seed": 4, **FAST}
    reference = compare(regression, "y", **options).results
    for backend in (get_backend("local", n_jobs=2), get_backend("ray")):
        results = compare(regression, "y", backend=backend, **options).results
        np.testing.assert_allclose(results["score"].to_numpy(), reference["score"].to_numpy(), rtol=1e-6)
        assert results.select("model", "repeat", "fold").equals(reference.select("model", "repeat", "fold"))


def test_default_zoo_fits_the_task_target_and_metric():
    from fieldguide.compare._metrics import metric_for

    multiclass = compare_module._candidates(
        "multiclass", np.array([0, 1, 2]), metric_for(None, "multiclass"), None, 0
    )
    names = [c.name for c in multiclass]
    assert "DummyClassifier" in names and "LogisticRegression" in names
    assert "LinearSVC" not in names  # log loss needs probabilities, which LinearSVC does not give
    negative = np.array([-1.0, 2.0])
    regression = compare_module._candidates("regression", negative, metric_for(None, "regression"), None, 0)
    assert {"PoissonRegressor", "GammaRegressor"}.isdisjoint(c.name for c in regression)
    assert all(c.estimator.get_params().get("random_state", 0) == 0 for c in regression)


@pytest.mark.parametrize(
    ("table", "kwargs", "error", "message"),
    [
        ("regression", {"target": "price"}, DataError, r"target 'price' is not a column; columns are \['x0'"),
        (
            "one_class",
            {"target": "y"},
            DataError,
            r"target 'y': needs at least 2 classes, found only \['a'\]",
        ),
        ("regression", {"target": "y", "folds": 100}, DataError, "150 rows are too few for 100 folds"),
        ("ring", {"target": "outside", "folds": 200}, DataError, "too few for 200 stratified folds"),
        (
            "regression",
            {"target": "y", "models": ["Forest"]},
            FieldguideError,
            r"unknown 'Forest'.*LinearRegression, Ridge",
        ),
        ("regression", {"target": "y", "metric": "auc"}, FieldguideError, "metric: expected one of roc_auc"),
        (
            "regression",
            {"target": "y", "metric": "roc_auc"},
            FieldguideError,
            "does not apply to a regression",
        ),
        (
            "ring",
            {"target": "outside", "metric": "log_loss", "models": ["LinearSVC"]},
            FieldguideError,
            "proba",
        ),
        (
            "regression",
            {"target": "y", "models": ["GammaRegressor"]},
            FieldguideError,
            "needs a positive target",
        ),
        ("regression", {"target": "y", "folds": 1}, FieldguideError, "folds must be at least 2"),
    ],
)
def test_bad_arguments_give_clear_errors(regression, table, kwargs, error, message):
    tables = {
        "regression": regression,
        "ring": ring_table(60),
        "one_class": pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a"] * 4}),
    }
    with pytest.raises(error, match=message):
        compare(tables[table], progress=False, **kwargs)


def test_a_sample_keeps_the_class_shares_and_is_the_same_for_a_seed():
    table = ring_table(900).with_row_index("row")  # 'row' is an identifier: a model never learns from it
    shares = table["outside"].value_counts(normalize=True).sort("outside")["proportion"].to_numpy()
    sampled, again = (
        compare(table, "outside", models=["LogisticRegression"], sample=300, **FAST) for _ in "ab"
    )
    assert (sampled.n_rows, sampled.sampled_from) == (300, 900)
    assert sampled.rows == "300 rows (a stratified sample of 900)"
    columns = ["model", "repeat", "fold", "score", "n_train", "n_test"]  # not the times
    assert sampled.results.select(columns).equals(again.results.select(columns))
    assert (
        sampled.to_dict()["sampled_from"] == 900
        and "300 rows (a stratified sample of 900)" in sampled.to_html()
    )
    n_test = sampled.results.filter(pl.col("model") == "LogisticRegression")["n_test"].to_numpy()
    assert n_test.sum() == 300
    kept = splits.stratified_sample(table, "outside", 300, seed=0)
    assert np.allclose(
        kept["outside"].value_counts(normalize=True).sort("outside")["proportion"], shares, atol=0.01
    )
    whole = compare(table, "outside", models=["LogisticRegression"], sample=900, **FAST)
    assert (whole.n_rows, whole.sampled_from, whole.rows) == (900, None, "900 rows")


def test_a_regression_sample_is_uniform_and_keeps_the_rows_order(regression):
    sampled = compare(regression, "y", models=["Ridge"], sample=60, seed=2, **{**FAST, "folds": 3})
    assert (sampled.n_rows, sampled.sampled_from, sampled.rows) == (60, 150, "60 rows (a sample of 150)")
    rows = np.sort(np.random.default_rng(2).choice(150, size=60, replace=False))
    reference = compare(regression[rows.tolist()], "y", models=["Ridge"], seed=2, **FAST)
    columns = ["model", "repeat", "fold", "score", "n_train", "n_test"]
    assert sampled.results.select(columns).equals(reference.results.select(columns))  # those rows, in order


@pytest.mark.parametrize("sample", [0, -5, 2.5, True, "100"])
def test_a_sample_is_a_positive_number_of_rows(regression, sample):
    with pytest.raises(
        FieldguideError, match=f"sample: expected a positive number of rows, found {sample!r}"
    ):
        compare(regression, "y", models=["Ridge"], sample=sample, **FAST)


def test_a_sample_too_small_for_a_rare_class_says_how_large_it_must_be():
    table = pl.DataFrame({"x": np.arange(1000.0), "y": ["rare"] * 20 + ["common"] * 980})
    with pytest.raises(
        FieldguideError,
        match=r"sample: 100 rows keep 2 row\(s\) of class 'rare' \(20 of the 1,000 labelled rows\), too few for 3 "
        r"stratified folds; sample at least 150 rows",
    ):
        compare(table, "y", models=["LogisticRegression"], sample=100, **FAST)
    assert compare(table, "y", models=["LogisticRegression"], sample=150, **FAST).n_rows == 150
