"""The pieces of the search: space translation, evaluation plan, trial task (scores, pruning, deadline),
ensemble selection and the CLI."""

from __future__ import annotations

import time

import numpy as np
import optuna
import polars as pl
import pytest
from sklearn import tree
from sklearn.metrics import roc_auc_score, root_mean_squared_error
from typer.testing import CliRunner

from fieldguide.compare import METRICS
from fieldguide.data import infer_schema
from fieldguide.data.synthetic import customers
from fieldguide.errors import DataError, FieldguideError
from fieldguide.models import ZOO
from fieldguide.models.adapters import DecisionTreeClassifier
from fieldguide.search import _ensemble, _evaluate, _space

from .conftest import FAST


# -- space --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", [e for e in ZOO if e.space], ids=lambda e: e.name)
def test_every_zoo_space_becomes_optuna_distributions_the_estimator_accepts(entry):
    candidate = _space.Candidate(entry.name, entry.estimator, entry.space, entry.complexity)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        chosen, params = _space.suggest(trial, [candidate])
        assert chosen is candidate and set(params) == set(entry.space)
        for param, spec in entry.space.items():
            distribution = trial.distributions[f"{entry.name}.{param}"]
            if spec[0] == "categorical":
                assert params[param] in spec[1]
            else:
                assert spec[1] <= params[param] <= spec[2]
                assert distribution.log == spec[0].startswith("log")
                assert isinstance(params[param], int) == spec[0].endswith("int")
        candidate.build(params, seed=0).get_params()  # the estimator takes them
        study.tell(trial, 0.0)


def test_sampled_floats_are_rounded_to_four_significant_digits():
    assert _space._round(0.0123456) == 0.01235
    assert _space._round(123.456) == 123.5
    assert _space._round(-2.0) == -2.0


def test_tuple_choices_travel_by_index():
    mlp = next(e for e in ZOO if e.name == "MLPClassifier")
    candidate = _space.Candidate(mlp.name, mlp.estimator, mlp.space, mlp.complexity)
    study = optuna.create_study()
    study.enqueue_trial({"model": "MLPClassifier", "MLPClassifier.hidden_layer_sizes": 2})
    _, params = _space.suggest(study.ask(), [candidate])
    assert params["hidden_layer_sizes"] == (64, 64)


def test_starting_points_lie_inside_their_spaces():
    for name, start in _space.STARTING_POINTS.items():
        entry = next(e for e in ZOO if e.name == name)
        candidate = _space.Candidate(name, entry.estimator, entry.space, entry.complexity)
        study = optuna.create_study()
        study.enqueue_trial(_space.starting_point(candidate))
        _, params = _space.suggest(study.ask(), [candidate])
        assert {k: params[k] for k in start} == start


def test_candidates_refuse_unknown_and_unfit_models():
    y = np.array([-1.0, 2.0])
    assert [c.name for c in _space.candidates("binary", np.array([0, 1]), FAST)] == FAST
    with pytest.raises(FieldguideError, match="unknown 'Nope'"):
        _space.candidates("regression", y, ["Nope"])
    with pytest.raises(FieldguideError, match="PoissonRegressor needs a non-negative target"):
        _space.candidates("regression", y, ["PoissonRegressor"])
    with pytest.raises(FieldguideError, match="LinearSVC gives no class probabilities"):
        _space.candidates("binary", np.array([0, 1]), ["LinearSVC"])


# -- evaluation plan ----------------------------------------------------------------------------------------------
def test_small_tables_get_cross_validation_and_big_ones_a_sampled_holdout():
    small = _evaluate.plan(np.arange(500) % 2, "binary", seed=0)
    assert small.strategy == "cv" and len(small.folds) == len(small.steps) == 5
    assert np.array_equal(np.sort(small.scored), np.arange(500))
    assert small.description == "5-fold cross-validation"
    mid = _evaluate.plan(np.zeros(15_000), "regression", seed=0)
    assert mid.strategy == "holdout" and len(mid.scored) == 3_000
    assert [len(s.rows) if s.rows is not None else None for s in mid.steps] == [3_000, None]
    big = _evaluate.plan(np.arange(60_000) % 3, "multiclass", seed=0)
    assert [len(s.rows) if s.rows is not None else None for s in big.steps] == [_evaluate.SAMPLE_ROWS, None]
    assert big.description == "holdout (12,000 of 60,000 rows; first fitted on 10,000 rows)"


def test_time_ordered_plans_score_later_rows_than_they_train_on():
    days = np.random.default_rng(1).permutation(15_000)
    frame = pl.DataFrame({"day": days, "y": np.arange(15_000) % 2})
    schema = infer_schema(frame, target="y")
    small, big = frame.head(500), frame
    cv = _evaluate.plan(small["y"].to_numpy(), "binary", 0, (small, infer_schema(small, "y"), "day"))
    assert cv.strategy == "cv" and cv.description == "5 time-ordered folds by 'day'"
    for train, test in cv.folds:
        assert days[train].max() < days[test].min()
    years = small.with_columns(day=(pl.int_range(500) + 100) // 200)  # three values: two folds, not five
    fewer = _evaluate.plan(years["y"].to_numpy(), "binary", 0, (years, infer_schema(years, "y"), "day"))
    assert fewer.description == "2 time-ordered folds by 'day'" and len(fewer.steps) == 2
    holdout = _evaluate.plan(big["y"].to_numpy(), "binary", 0, (big, schema, "day"))
    [(train, test)] = holdout.folds
    assert np.array_equal(np.sort(days[test]), np.arange(12_000, 15_000))  # the latest fifth
    assert holdout.description == (
        "holdout (the latest by 'day': 3,000 of 15,000 rows; first fitted on 3,000 rows)"
    )
    late = frame.with_columns(y=pl.when(pl.col("day") >= 14_000).then(2).otherwise(pl.col("y")))
    y = late["y"].to_numpy()
    with pytest.raises(DataError, match="time: class 2 has no row before the holdout rows"):
        _evaluate.plan(y, "multiclass", 0, (late, infer_schema(late, "y"), "day"), y, [0, 1, 2])


# -- the trial task -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared():
    frame = customers(300, seed=3)
    schema = infer_schema(frame, target="churn")
    y = frame["churn"].to_numpy()
    plan = _evaluate.plan(y, "binary", seed=0)
    return _evaluate.featurize(frame, schema, y, plan, "binary", "roc_auc")


def _task(estimator, thresholds=(None,) * 5, deadline=None, estimate=None):
    return _evaluate.TrialTask(0, estimator, thresholds, deadline, estimate, True)


def test_trial_score_matches_scikit_learn_on_the_same_folds(shared):
    data = shared
    outcome = _evaluate.run_trial(_task(DecisionTreeClassifier(max_depth=3, random_state=0)), data)
    assert outcome.state == "complete" and len(outcome.intermediate) == 5
    pooled, fold_scores = [], []
    for fold in data.folds:
        reference = tree.DecisionTreeClassifier(max_depth=3, random_state=0).fit(fold.X_train, fold.y_train)
        proba = reference.predict_proba(fold.X_test)[:, 1]
        pooled.append(proba)
        fold_scores.append(roc_auc_score(fold.y_test, proba))
    assert outcome.score == pytest.approx(roc_auc_score(data.y_scored, np.concatenate(pooled)))
    assert outcome.intermediate == pytest.approx(np.cumsum(fold_scores) / np.arange(1, 6))


def test_trial_worse_than_the_median_is_pruned_after_its_first_fold(shared):
    data = shared
    outcome = _evaluate.run_trial(_task(DecisionTreeClassifier(max_depth=1), thresholds=(0.99,) * 5), data)
    assert outcome.state == "pruned" and len(outcome.intermediate) == 1 and outcome.score is None


def test_trial_stops_when_the_next_fold_cannot_meet_the_deadline(shared):
    data = shared
    late = _evaluate.run_trial(_task(DecisionTreeClassifier(), deadline=time.time()), data)
    assert late.state == "budget" and len(late.intermediate) == 1 and late.needed_s > late.duration_s
    never = _evaluate.run_trial(
        _task(DecisionTreeClassifier(), deadline=time.time() + 1, estimate=100.0), data
    )
    assert never.state == "budget" and never.intermediate == [] and never.needed_s == 100.0


def test_a_failing_configuration_is_an_outcome_not_a_crash(shared):
    data = shared
    outcome = _evaluate.run_trial(_task(DecisionTreeClassifier(max_depth=-3)), data)
    assert outcome.state == "failed" and "max_depth" in outcome.error


def test_median_thresholds_need_enough_finished_trials():
    finished = [[0.6, 0.7], [0.8], [0.7, 0.9]]
    assert _evaluate.median_thresholds(finished, 3, min_trials=2) == (0.7, 0.8, None)
    assert _evaluate.median_thresholds(finished, 1, min_trials=4) == (None,)


# -- ensemble selection -------------------------------------------------------------------------------------------
def test_ensemble_selection_averages_complementary_models():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    noise = rng.normal(size=200)
    outputs = [y + noise, y - noise, y + 3 * rng.normal(size=200)]  # the first two cancel out
    weights, score = _ensemble.select(outputs, y, METRICS["rmse"], "regression")
    assert weights[0] == weights[1] > 0 and weights[2] == 0
    average = sum(w * o for w, o in zip(weights, outputs, strict=True)) / sum(weights)
    assert score == pytest.approx(root_mean_squared_error(y, average)) == pytest.approx(0.0, abs=1e-12)


def test_ensemble_selection_keeps_a_single_model_that_cannot_be_improved():
    y = np.array([0, 1, 0, 1, 1, 0])
    perfect = np.column_stack([1 - y, y]).astype(float)
    noisy = np.full((6, 2), 0.5)
    weights, score = _ensemble.select([perfect, noisy], y, METRICS["roc_auc"], "binary")
    assert weights == [1, 0] and score == 1.0


def test_ensemble_of_noise_is_scored_as_noise_on_rows_it_did_not_choose_on():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    outputs = [
        np.column_stack([1 - p, p]) for p in rng.uniform(size=(10, 400))
    ]  # ten models that know nothing
    accuracy = METRICS["accuracy"]
    best_single = max(_evaluate.score(accuracy, "binary", y, o) for o in outputs)
    _, chosen_on_itself = _ensemble.select(outputs, y, accuracy, "binary")
    held_out = _ensemble.cross_fitted(outputs, y, accuracy, "binary", seed=0)
    assert chosen_on_itself > best_single + 0.04  # the blend fits these rows' noise...
    assert abs(held_out - 0.5) < 0.04  # ...and on rows it did not see, it is the coin it is


def test_ensemble_cross_fitted_score_splits_every_class_across_both_halves():
    y = np.array([0] * 6 + [1] * 4 + [2] * 2)
    first, second = _ensemble._halves(y, "multiclass", seed=3)
    assert sorted(np.concatenate([first, second])) == list(range(12))
    assert (
        [np.sum(y[first] == c) for c in range(3)] == [3, 2, 1] == [np.sum(y[second] == c) for c in range(3)]
    )


# -- CLI ----------------------------------------------------------------------------------------------------------
def test_train_command_searches_registers_and_summarises(churn_csv, tmp_path, monkeypatch):
    from fieldguide.cli import app

    monkeypatch.setenv("FIELDGUIDE_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = [
        "train",
        str(churn_csv),
        "--target",
        "churn",
        "--trials",
        "2",
        "--models",
        "DecisionTreeClassifier",
    ]
    done = CliRunner().invoke(app, [*args, "--registry", url, "--name", "cli-churn"])
    assert done.exit_code == 0, done.output
    assert "Leaderboard" in done.output and "Registered cli-churn version 1" in done.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "nope"], "target 'nope' is not a column; columns are customer_id"),
        (["--target", "churn", "--budget", "soon"], "--budget: expected a duration"),
        (["--target", "churn", "--models", "Forest"], "models: unknown 'Forest'"),
        (["--target", "churn", "--export", "/nonexistent/dir/x.py"], "export: cannot write"),
        (["--target", "churn", "--gpus-per-task", "1"], "--gpus-per-task: only with --backend ray"),
        (["--target", "churn", "--time", "contract"], "time: 'contract' is a categorical column; expected a"),
    ],
)
def test_train_command_errors_are_one_clean_line(churn_csv, extra, message):
    from fieldguide.cli import app

    done = CliRunner().invoke(app, ["train", str(churn_csv), *extra])
    assert done.exit_code == 2
    assert message in done.output and "Traceback" not in done.output


def _record(number, model, score):
    from fieldguide.search import TrialRecord

    return TrialRecord(number, model, {}, "complete", score, [score], 1.0, [0.1])


def test_ensemble_is_chosen_only_when_it_beats_the_best_single_model():
    from types import SimpleNamespace

    from fieldguide.search._search import _choose, _Clock

    rng = np.random.default_rng(1)
    y = rng.normal(size=100)
    noise = rng.normal(size=100)
    shared = SimpleNamespace(y_scored=y, folds=[SimpleNamespace(y_train=np.zeros(80))])
    plan = SimpleNamespace(n_rows=100)
    clock = _Clock(time.perf_counter(), None, overhead_s=1.0)
    rmse = METRICS["rmse"]
    # complementary errors: their average is exact, so the ensemble wins
    ranked = [_record(0, "Ridge", 1.0), _record(1, "LGBMRegressor", 1.0)]
    members, score, notes = _choose(
        ranked, {0: y + noise, 1: y - noise}, shared, rmse, "regression", plan, clock, 0
    )
    assert (
        [(r.number, w) for r, w in members] == [(0, 1), (1, 1)] and score == pytest.approx(0.0) and not notes
    )
    # a perfect model cannot be beaten: it is kept alone, and the summary says why
    ranked = [_record(0, "Ridge", 0.0), _record(1, "LGBMRegressor", 1.0)]
    members, score, notes = _choose(ranked, {0: y, 1: y + noise}, shared, rmse, "regression", plan, clock, 0)
    assert [(r.number, w) for r, w in members] == [(0, 1)] and score == 0.0
    assert "did not beat Ridge" in notes[0]
    # models that know nothing: their blend beats the best of them only on the rows it was chosen on
    y = rng.integers(0, 2, 400)
    guesses = {n: np.column_stack([1 - p, p]) for n, p in enumerate(rng.uniform(size=(10, 400)))}
    accuracy = METRICS["accuracy"]
    scores = {n: _evaluate.score(accuracy, "binary", y, g) for n, g in guesses.items()}
    ranked = sorted((_record(n, "Ridge", s) for n, s in scores.items()), key=lambda r: -r.score)
    assert _ensemble.select([guesses[r.number] for r in ranked], y, accuracy, "binary")[1] > ranked[0].score
    shared = SimpleNamespace(y_scored=y, folds=[SimpleNamespace(y_train=np.zeros(320))])
    members, score, notes = _choose(ranked, guesses, shared, accuracy, "binary", plan, clock, 0)
    assert [(r.number, w) for r, w in members] == [(ranked[0].number, 1)] and score == ranked[0].score
    assert "on rows it did not choose on" in notes[0]
