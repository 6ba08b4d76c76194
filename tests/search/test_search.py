"""The search end to end: reproducible, budgeted, ensembles only when better, registered, exported, on Ray."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from fieldguide.errors import FieldguideError, SchemaError
from fieldguide.models.adapters import Ensemble
from fieldguide.pipeline import Pipeline
from fieldguide.search import print_summary, search
from fieldguide.search._search import BATCH

from .conftest import FAST, TRIALS


def _fingerprint(result):
    """What must not change between reruns: every trial's model, params, state and score, and the choice."""
    trials = [(t.number, t.model, t.params, t.state, t.score) for t in result.trials]
    return trials, [(r.number, w) for r, w in result.members], result.score


def _summary(result) -> str:
    out = io.StringIO()
    print_summary(result, Console(file=out, width=200))
    return out.getvalue()


def _run_export(result, output) -> float:
    """Run the exported script in a new process; the ROC AUC it prints."""
    done = subprocess.run(
        [sys.executable, str(result.export), str(output)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return float(re.search(r"roc_auc: ([0-9.]+)", done.stdout).group(1))


def test_search_with_a_seed_and_trials_is_reproducible(searched, churn_csv):
    first, _ = searched
    again = search(
        churn_csv, "churn", budget=None, trials=TRIALS, seed=0, models=FAST, name=None, progress=False
    )
    assert len(first.trials) == TRIALS
    assert _fingerprint(again) == _fingerprint(first)
    assert {t.model for t in first.trials} <= set(FAST)


def test_chosen_model_is_the_best_trial_or_a_better_ensemble(searched):
    result, _ = searched
    best = result.leaderboard[0]
    assert result.best_single_score == best.score == max(t.score for t in result.leaderboard)
    if result.is_ensemble:
        assert result.score > result.best_single_score
        assert isinstance(result.pipeline.model, Ensemble)
        assert [w for _, w in result.members] == pytest.approx(
            np.asarray(result.pipeline.model.weights_) * sum(w for _, w in result.members)
        )
    else:
        assert result.members == [(best, 1)]
        assert result.score == best.score
        assert type(result.pipeline.model).__name__ == best.model


def test_result_is_registered_and_loads_back(searched, churn_csv):
    result, registry = searched
    version = result.registered
    assert (version.name, version.version) == ("churn", 1)
    stored = registry.get("churn", 1)
    assert stored.metrics["validation_score"] == pytest.approx(result.score)
    assert stored.metrics["metric"] == "roc_auc" and stored.metrics["trials"] == TRIALS
    assert stored.lineage["config"]["search"]["trials"] == TRIALS
    loaded = Pipeline.load(registry.open("churn", 1))
    from fieldguide.data import read

    table = read(churn_csv).head(50)
    np.testing.assert_allclose(loaded.predict_proba(table), result.pipeline.predict_proba(table), rtol=1e-9)


def test_exported_script_rebuilds_the_pipeline_with_the_same_score(searched, tmp_path):
    result, _ = searched
    text = result.export.read_text()
    assert "fieldguide._" not in text  # public API only
    compile(text, str(result.export), "exec")
    assert _run_export(result, tmp_path / "rebuilt") == pytest.approx(result.score, abs=1e-6)
    rebuilt = Pipeline.load(tmp_path / "rebuilt")
    assert type(rebuilt.model) is type(result.pipeline.model)


def test_summary_shows_leaderboard_choice_registration_and_time(searched):
    result, _ = searched
    text = _summary(result)
    assert "Leaderboard" in text and "5-fold cross-validation" in text
    assert "Registered churn version 1" in text
    assert "fieldguide evaluate churn --challenger 1 --data HOLDOUT" in text
    assert "fieldguide serve churn --version 1" in text
    assert f"{len(result.trials)} trials" in text
    assert "no budget" in text


def test_budget_overrun_is_measured_and_reported(churn_csv):
    result = search(churn_csv, "churn", budget=6.0, seed=0, models=FAST, progress=False)
    assert result.budget_s == 6.0
    assert result.wall_s > 0 and result.overrun_s == pytest.approx(result.wall_s - 6.0)
    assert len(result.trials) >= 1
    line = _summary(result).splitlines()[-1]
    assert line.startswith(f"Budget: {result.wall_s:.1f} s used of 6 s")
    assert ("overrun" in line) == (result.overrun_s > 0)


def test_budget_too_small_for_one_trial_says_the_minimum_observed(churn_csv):
    with pytest.raises(
        FieldguideError, match=r"too small to run one trial; the quickest trial needed about [0-9.]+ s"
    ):
        search(churn_csv, "churn", budget=0.01, seed=0, models=["LGBMClassifier"], progress=False)


def test_regression_search_scores_rmse():
    from fieldguide.data.synthetic import regression_table

    result = search(
        regression_table(300, seed=2),
        "y",
        budget=None,
        trials=3,
        models=["LGBMRegressor", "KNeighborsRegressor"],
        progress=False,
    )
    assert result.task == "regression" and result.metric.name == "rmse"
    assert result.registered is None  # an in-memory table without a name is not registered
    assert all(t.score > 0 for t in result.leaderboard)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_backend_gives_the_same_trials_as_local(searched, churn_csv, ray_session):
    from fieldguide.backends import get_backend

    result, _ = searched
    # One batch of trials, run in parallel as Ray tasks, must match the first batch of the local run.
    on_ray = search(
        churn_csv,
        "churn",
        budget=None,
        trials=BATCH,
        seed=0,
        models=FAST,
        backend=get_backend("ray"),
        progress=False,
    )
    assert _fingerprint(on_ray)[0] == _fingerprint(result)[0][:BATCH]


# -- errors -----------------------------------------------------------------------------------------------------
def test_ignored_columns_and_missing_values_carry_through_the_search_the_pipeline_and_the_export(tmp_path):
    from fieldguide.data import read, synthetic

    path = tmp_path / "leaky.csv"
    table = synthetic.customers(300, seed=4).with_columns(
        refund=pl.col("churn") * 30.0,  # known after churn
        age=pl.col("age").fill_null(-1),  # missing ages written as -1
    )
    table = table.with_columns(churn=pl.when(pl.int_range(300) % 15 == 0).then(None).otherwise("churn"))
    table.write_csv(path)
    options = {
        "budget": None,
        "trials": 2,
        "seed": 0,
        "models": ["DecisionTreeClassifier"],
        "progress": False,
    }
    leaky = search(path, "churn", name=None, **options)
    result = search(
        path,
        "churn",
        name=None,
        ignore=["refund"],
        missing={"age": [-1]},
        export=tmp_path / "rebuild.py",
        **options,
    )
    assert leaky.score == 1.0 > 0.95 > result.score  # the tree finds the leak unless it is ignored
    assert result.pipeline.schema["refund"].role == "ignored"
    assert result.pipeline.lineage["config"]["search"]["ignore"] == ["refund"]
    assert result.pipeline.lineage["config"]["search"]["missing"] == {"age": ["-1"]}
    assert result.pipeline.schema["age"].missing_values == ("-1",)
    assert not any("refund" in name for name in result.pipeline.featurizer.feature_names_out)
    served = table.drop("refund", "churn")
    np.testing.assert_allclose(result.pipeline.predict_proba(served), result.pipeline.predict_proba(table))
    text = result.export.read_text()
    assert 'IGNORE = ["refund"]' in text and 'MISSING = {"age": ["-1"]}' in text
    assert result.notes[0] == "20 row(s) without a value of 'churn' were left out"
    assert "table = labelled_rows(table, schema, TARGET)" in text  # the script leaves out the same rows
    assert "infer_schema(table, target=TARGET, ignore=IGNORE, missing=MISSING)" in text
    assert _run_export(result, tmp_path / "rebuilt") == pytest.approx(result.score, abs=1e-6)
    rebuilt = Pipeline.load(tmp_path / "rebuilt")
    assert rebuilt.schema["refund"].role == "ignored" and rebuilt.schema["age"].missing_values == ("-1",)
    assert read(path).columns == table.columns


def _trending(n: int = 400, seed: int = 6) -> pl.DataFrame:
    """A target that grows with time, on days in shuffled row order: a model that sees later days while training
    scores well on shuffled folds, and badly once it must predict days beyond those it learned from."""
    import datetime as dt

    rng = np.random.default_rng(seed)
    days = rng.permutation(n)
    x = rng.normal(size=n)
    start = dt.datetime(2024, 1, 1)
    return pl.DataFrame(
        {
            "day": [start + dt.timedelta(days=int(d)) for d in days],
            "x": x,
            "y": 0.05 * days + x + rng.normal(scale=0.3, size=n),
        }
    )


def test_time_ordered_search_scores_on_the_future_and_its_export_repeats_it(tmp_path):
    from fieldguide.data import infer_schema, splits

    path = tmp_path / "trend.csv"
    table = _trending()
    table.write_csv(path)
    options = {"budget": None, "trials": 2, "seed": 0, "models": ["DecisionTreeRegressor"], "progress": False}
    shuffled = search(path, "y", name=None, **options)
    ordered = search(path, "y", name=None, time="day", export=tmp_path / "rebuild.py", **options)
    assert ordered.evaluation == "5 time-ordered folds by 'day'"
    assert "scored by RMSE on 5 time-ordered folds by 'day'" in _summary(ordered)
    assert ordered.score > 2 * shuffled.score  # no tree can extrapolate the trend past the days it saw
    assert ordered.pipeline.lineage["config"]["search"]["time"] == "day"
    read_back = pl.read_csv(path, try_parse_dates=True)
    for train, test in splits.time_folds(read_back, infer_schema(read_back, "y"), "day", k=5):
        assert read_back["day"][train].max() < read_back["day"][test].min()
    text = ordered.export.read_text()
    assert 'TIME = "day"' in text and "folds = splits.time_folds(table, schema, TIME, k=5)" in text
    done = subprocess.run(
        [sys.executable, str(ordered.export), str(tmp_path / "rebuilt")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert float(re.search(r"rmse: ([0-9.]+)", done.stdout).group(1)) == pytest.approx(
        ordered.score, rel=1e-6
    )


@pytest.mark.parametrize(
    ("time", "error", "message"),
    [
        ("when", SchemaError, r"time: 'when' is not a column; columns are day, x, y"),
        ("y", FieldguideError, r"time: 'y' is the target"),
    ],
)
def test_time_column_is_checked_before_any_trial(time, error, message):
    with pytest.raises(error, match=message):
        search(_trending(60), "y", budget=None, trials=1, time=time, progress=False)


def test_unknown_target_lists_the_columns(churn_csv):
    with pytest.raises(
        SchemaError, match=r"target 'chrun' is not a column; columns are customer_id, .*churn"
    ):
        search(churn_csv, "chrun", trials=1, progress=False)


def test_one_class_target_is_refused():
    from fieldguide.data.synthetic import customers

    table = customers(50).with_columns(churn=0)
    with pytest.raises(FieldguideError, match="at least 2 classes"):
        search(table, "churn", trials=1, progress=False)


def test_unknown_model_name_is_refused_with_the_choices(churn_csv):
    with pytest.raises(
        FieldguideError, match=r"models: unknown 'LGBM' for a binary target; expected .*LGBMClassifier"
    ):
        search(churn_csv, "churn", trials=1, models=["LGBM"], progress=False)


def test_unwritable_export_path_is_refused_before_searching(churn_csv, tmp_path):
    with pytest.raises(FieldguideError, match=r"export: cannot write .*missing"):
        search(churn_csv, "churn", trials=1, export=tmp_path / "missing" / "x.py", progress=False)
    with pytest.raises(FieldguideError, match="data as a path"):
        search({"x": [1, 2], "y": [0, 1]}, "y", trials=1, export=tmp_path / "x.py", progress=False)
