"""The statistics behind evaluate: each metric against scikit-learn (on the holdout and on a resample), the
bootstrap against SciPy, interval coverage in a seeded simulation, calibration and fairness against direct
computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from evaluate_support import fit, planted
from fieldguide.evaluate import evaluate
from fieldguide.evaluate._metrics import (
    METRICS,
    TASK_METRICS,
    Outputs,
    bootstrap,
    calibration,
    fairness_statistics,
    group_rates,
    resample_counts,
)


def outputs(task: str, n: int = 400, seed: int = 0, decimals: int = 2) -> Outputs:
    """Random but related truth and answers; probabilities rounded to ``decimals`` so that ties occur."""
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(3, 2, n)
        return Outputs(y, y + rng.normal(0, 1, n), None)
    k = 2 if task == "binary" else 3
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), decimals)
    proba /= proba.sum(axis=1, keepdims=True)
    return Outputs(y, proba.argmax(axis=1), proba)


def sklearn_metric(name: str, out: Outputs) -> float:
    y, pred, proba = out
    reference = {
        "roc_auc": lambda: skm.roc_auc_score(y, proba[:, 1]),
        "log_loss": lambda: skm.log_loss(y, proba, labels=range(proba.shape[1])),
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "f1": lambda: skm.f1_score(y, pred, zero_division=0),
        "macro_f1": lambda: skm.f1_score(y, pred, average="macro", zero_division=0),
        "brier": lambda: skm.brier_score_loss(y, proba[:, 1]),
        "rmse": lambda: skm.root_mean_squared_error(y, pred),
        "mae": lambda: skm.mean_absolute_error(y, pred),
        "r2": lambda: skm.r2_score(y, pred),
    }
    return reference[name]()


CASES = [(task, name) for task, names in TASK_METRICS.items() for name in names]


@pytest.mark.parametrize(("task", "name"), CASES)
def test_metric_matches_sklearn_on_the_holdout_and_on_a_resample(task, name):
    out = outputs(task)
    n = len(out.y)
    value = METRICS[name].fn(np.ones((1, n)), out)[0]
    assert value == pytest.approx(sklearn_metric(name, out), rel=1e-9, abs=1e-12)

    counts = next(resample_counts(n, 3, seed=7))
    drawn = np.repeat(np.arange(n), counts[2].astype(int))  # the rows of resample 2, with repeats
    resampled = Outputs(out.y[drawn], out.pred[drawn], None if out.proba is None else out.proba[drawn])
    assert METRICS[name].fn(counts, out)[2] == pytest.approx(sklearn_metric(name, resampled), rel=1e-9)


def test_auc_is_undefined_when_a_resample_has_one_class():
    out = Outputs(np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]))
    w = np.array([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    auc = METRICS["roc_auc"].fn(w, out)
    assert np.isnan(auc[0]) and auc[1] == 1.0


def test_resamples_are_seeded_and_draw_n_rows_each():
    a = np.concatenate(list(resample_counts(50, 300, seed=3)))
    b = np.concatenate(list(resample_counts(50, 300, seed=3)))
    assert a.shape == (300, 50) and np.array_equal(a, b)
    assert np.all(a.sum(axis=1) == 50)
    assert not np.array_equal(a, np.concatenate(list(resample_counts(50, 300, seed=4))))


def test_percentile_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(0)
    correct = (rng.random(500) < 0.8).astype(float)
    ours = bootstrap({"mean": lambda w: w @ correct / w.sum(1)}, 500, resamples=4000, seed=1, confidence=0.95)
    theirs = scipy.stats.bootstrap(
        (correct,), np.mean, n_resamples=4000, method="percentile", confidence_level=0.95, random_state=2
    ).confidence_interval
    assert ours["mean"].value == correct.mean()
    # two independent Monte Carlo runs of the same interval: they agree to well under its half-width (0.035)
    assert ours["mean"].low == pytest.approx(theirs.low, abs=0.006)
    assert ours["mean"].high == pytest.approx(theirs.high, abs=0.006)


def _binormal(n: int, rng: np.random.Generator) -> Outputs:
    y = (rng.random(n) < 0.4).astype(int)
    score = scipy.special.expit(rng.normal(size=n) + 1.2 * y)
    return Outputs(y, (score > 0.5).astype(int), np.column_stack([1 - score, score]))


def test_intervals_cover_the_truth_at_about_the_nominal_rate():
    """200 seeded holdouts from populations whose metrics are known; 95 % intervals should cover the truth about
    95 % of the time. With 200 trials the standard error of the rate is 1.5 points, and the percentile bootstrap
    runs a little narrow at n = 300, so the check is loose: between 88 % and 99 %."""
    rng = np.random.default_rng(2024)
    truths = {
        "accuracy": 0.8,  # each answer right with probability 0.8
        "roc_auc": scipy.stats.norm.cdf(1.2 / np.sqrt(2)),  # binormal scores, shift 1.2
        "rmse": 1.5,  # errors N(0, 1.5²)
    }
    covered = dict.fromkeys(truths, 0)
    trials = 200
    for trial in range(trials):
        n = 300
        correct = rng.random(n) < 0.8
        acc = Outputs(np.ones(n, int), correct.astype(int), None)
        err = Outputs(np.zeros(n), rng.normal(0, 1.5, n), None)
        cases = {"accuracy": acc, "roc_auc": _binormal(n, rng), "rmse": err}
        for name, out in cases.items():
            stats = {name: lambda w, fn=METRICS[name].fn, out=out: fn(w, out)}
            est = bootstrap(stats, n, resamples=400, seed=trial, confidence=0.95)[name]
            covered[name] += est.low <= truths[name] <= est.high
    for name, hits in covered.items():
        assert 0.88 <= hits / trials <= 0.99, (name, hits / trials)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_calibration_matches_sklearn_curve_and_direct_ece(task):
    out = outputs(task, n=1000, seed=3, decimals=15)  # no probability on a bin edge: floor() bins them
    cal = calibration(out, bins=10)
    confidence = out.proba[:, 1] if task == "binary" else out.proba.max(axis=1)
    hit = out.y == 1 if task == "binary" else out.pred == out.y
    observed, predicted = calibration_curve(hit, confidence, n_bins=10, strategy="uniform")
    assert [o for o in cal.observed if o is not None] == pytest.approx(observed)
    assert [p for p in cal.predicted if p is not None] == pytest.approx(predicted)
    assert sum(cal.rows) == 1000
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        np.mean(bins == b) * abs(hit[bins == b].mean() - confidence[bins == b].mean())
        for b in range(10)
        if np.any(bins == b)
    )
    assert cal.ece == pytest.approx(ece)
    reference = out.proba[:, 1] if task == "binary" else out.proba
    assert cal.brier == pytest.approx(skm.brier_score_loss(out.y, reference))


def test_fairness_gaps_match_a_direct_groupby():
    rng = np.random.default_rng(5)
    n = 2000
    groups = rng.choice(["p", "q", "r"], n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < 0.4).astype(int)
    pred = (rng.random(n) < np.select([groups == "p", groups == "q"], [0.5, 0.3], 0.4)).astype(int)
    out = Outputs(y, pred, None)
    frame = pd.DataFrame({"g": groups, "y": y, "pred": pred})
    selection = frame.groupby("g")["pred"].mean()
    tpr = frame[frame.y == 1].groupby("g")["pred"].mean()
    fpr = frame[frame.y == 0].groupby("g")["pred"].mean()
    gated = ["p", "q", "r"]
    ones = np.ones((1, n))
    gaps = {name: fn(ones)[0] for name, fn in fairness_statistics(out, groups, gated).items()}
    assert gaps["demographic_parity"] == pytest.approx(selection.max() - selection.min())
    assert gaps["equal_opportunity"] == pytest.approx(tpr.max() - tpr.min())
    assert gaps["equalized_odds"] == pytest.approx(max(tpr.max() - tpr.min(), fpr.max() - fpr.min()))
    rates = group_rates(out, groups)
    assert rates["q"]["rows"] == int((groups == "q").sum())
    assert rates["q"]["tpr"] == pytest.approx(tpr["q"]) and rates["r"]["fpr"] == pytest.approx(fpr["r"])


def test_evaluate_slices_and_flags_small_ones():
    holdout = planted(600, seed=11)
    pipe = fit(planted(800, seed=10), ["x0", "x1", "segment"])
    holdout = holdout.with_columns(pl.Series("rare", np.where(np.arange(600) < 20, "few", "many")))
    ev = evaluate(pipe, holdout, slices=["segment", "rare", "x0"], resamples=200, min_slice_rows=30)
    by_key = {(s.column, s.value): s for s in ev.slices}
    seg_c = by_key[("segment", "c")]
    mask = (holdout["segment"] == "c").to_numpy()
    proba = pipe.predict_proba(holdout.filter(pl.Series(mask)))[:, 1]
    assert seg_c.rows == mask.sum()
    assert seg_c.metrics["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(holdout["y"].to_numpy()[mask], proba)
    )
    assert by_key[("rare", "few")].small and not by_key[("rare", "many")].small
    quartiles = [s for s in ev.slices if s.column == "x0"]
    assert len(quartiles) == 4 and sum(s.rows for s in quartiles) == 600
    assert ev.metrics["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(holdout["y"].to_numpy(), pipe.predict_proba(holdout)[:, 1])
    )
    assert ev.calibration is not None and ev.fairness is None


def test_rows_whose_label_has_not_arrived_are_left_out_with_a_note():
    pipe = fit(planted(300, seed=1), ["x0", "x1"])
    holdout = planted(200, seed=2)
    waiting = holdout.with_columns(pl.when(pl.int_range(200) % 4 == 0).then(None).otherwise("y").alias("y"))
    ev = evaluate(pipe, waiting, resamples=10)
    labelled = holdout.filter(pl.int_range(200) % 4 != 0)
    assert ev.rows == 150 and ev.notes == ["50 row(s) without a value of 'y' were left out"]
    assert ev.rows_sha256 == evaluate(pipe, labelled, resamples=10).rows_sha256
    assert ev.metrics["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(labelled["y"].to_numpy(), pipe.predict_proba(labelled)[:, 1])
    )


def test_labels_training_declared_missing_are_left_out_too():
    from fieldguide.data import infer_schema
    from fieldguide.errors import DataError
    from fieldguide.models import LogisticRegression
    from fieldguide.pipeline import Pipeline

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    table = pl.DataFrame({"x": x, "y": np.where(x + rng.normal(size=300) > 0, "yes", "no")})
    schema = infer_schema(table, target="y").replace(
        "y", missing_values=("?",)
    )  # as `--missing y=?` declares
    pipe = Pipeline.fit(table[:200], "y", LogisticRegression(), schema=schema)
    holdout = table[200:].with_columns(
        pl.when(pl.int_range(100) < 10).then(pl.lit("?")).otherwise("y").alias("y")
    )
    ev = evaluate(pipe, holdout, resamples=10)
    assert ev.rows == 90
    assert ev.notes == ["10 row(s) without a value of 'y' (null, or declared missing: ['?']) were left out"]
    unknown = holdout.with_columns(pl.lit("maybe").alias("y"))  # a label never declared stays an error
    with pytest.raises(DataError, match=r"label\(s\) \['maybe'\] were not seen in training"):
        evaluate(pipe, unknown, resamples=10)


def test_bad_holdouts_get_errors_that_name_the_column():
    from fieldguide.errors import DataError

    pipe = fit(planted(300, seed=1), ["x0", "x1"])
    holdout = planted(100, seed=2)
    with pytest.raises(DataError, match=r"target 'y' in the holdout: label\(s\) \['2'\] were not seen"):
        evaluate(pipe, holdout.with_columns(pl.lit(2).alias("y")), resamples=10)
    with pytest.raises(DataError, match="target 'y' in the holdout: every value is missing; no row to"):
        evaluate(pipe, holdout.with_columns(pl.lit(None).alias("y")), resamples=10)
    with pytest.raises(DataError, match="slice column 'nope' is not in the holdout"):
        evaluate(pipe, holdout, slices=["nope"], resamples=10)
    with pytest.raises(DataError, match="resamples ≥ 1"):
        evaluate(pipe, holdout, resamples=0)
