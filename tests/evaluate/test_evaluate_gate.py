"""The gate on planted cases: seeded tables where which model is better, overall and per slice, is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluate_support import fit, planted
from fieldguide.errors import DataError
from fieldguide.evaluate import evaluate, gate, report_html, report_json

SETTINGS = {"resamples": 300, "seed": 0, "min_slice_rows": 30}


@pytest.fixture(scope="module")
def clean():
    """Holdout and two models: one sees only x0 (weak everywhere), one sees x0 and x1 (better everywhere)."""
    train = planted(3000, seed=1)
    holdout = planted(3000, seed=3)
    weak = evaluate(fit(train, ["x0", "segment"]), holdout, label="weak", slices=["segment"], **SETTINGS)
    strong = evaluate(
        fit(train, ["x0", "x1", "segment"]), holdout, label="strong", slices=["segment"], **SETTINGS
    )
    return weak, strong


def test_gate_passes_a_better_model_and_fails_a_worse_one(clean):
    weak, strong = clean
    better = gate(strong, weak)
    assert better.passed and better.verdict == "PASS" and not better.failed
    worse = gate(weak, strong)
    assert not worse.passed and worse.verdict == "FAIL"
    assert worse.failed[0].name == "overall ROC AUC"
    rule = worse.failed[0]
    assert rule.delta == pytest.approx(weak.metrics["roc_auc"].value - strong.metrics["roc_auc"].value)
    assert rule.interval[0] <= rule.delta <= rule.interval[1] < 0  # the paired interval is clear of zero


def test_thresholds_decide_and_losses_count_a_rise_as_worse(clean):
    weak, strong = clean
    drop = strong.metrics["roc_auc"].value - weak.metrics["roc_auc"].value
    assert gate(weak, strong, max_drop=drop + 1e-9, max_slice_drop=1.0).passed
    assert not gate(weak, strong, max_drop=drop - 1e-3, max_slice_drop=1.0).passed
    by_loss = gate(weak, strong, metric="log_loss", max_slice_drop=1.0)
    assert not by_loss.passed and by_loss.failed[0].delta > 0  # log loss went up: worse
    assert gate(strong, weak, metric="log_loss").passed


def test_gate_fails_a_model_better_overall_but_worse_on_a_planted_slice():
    """In segment c (15 % of rows) x1 works the other way. A model of x0 and x1 fitted without that interaction
    beats the x0-only champion overall and on a and b, and is worse than it on c: the slice rule must catch it."""
    train = planted(3000, seed=2, reverse_in="c")
    holdout = planted(3000, seed=4, reverse_in="c")
    champion = evaluate(
        fit(train, ["x0", "segment"]), holdout, label="champion", slices=["segment"], **SETTINGS
    )
    challenger = evaluate(
        fit(train, ["x0", "x1"]), holdout, label="challenger", slices=["segment"], **SETTINGS
    )
    verdict = gate(challenger, champion)
    rules = {rule.name.split(" (")[0]: rule for rule in verdict.rules}
    assert rules["overall ROC AUC"].passed and rules["overall ROC AUC"].delta > 0.03
    assert rules["slice segment=a"].passed and rules["slice segment=b"].passed
    assert not rules["slice segment=c"].passed and rules["slice segment=c"].delta < -0.05
    assert not verdict.passed and [r.name.split(" (")[0] for r in verdict.failed] == ["slice segment=c"]


def test_small_slices_are_not_gated():
    train = planted(2000, seed=2, reverse_in="c")
    holdout = planted(150, seed=4, reverse_in="c")  # segment c has about 22 rows
    options = {**SETTINGS, "min_slice_rows": 40}
    champion = evaluate(fit(train, ["x0", "segment"]), holdout, slices=["segment"], **options)
    challenger = evaluate(fit(train, ["x0", "x1"]), holdout, slices=["segment"], **options)
    assert [s.small for s in challenger.slices] == [False, False, True]
    assert not any("segment=c" in rule.name for rule in gate(challenger, champion, max_drop=1).rules)


def test_fairness_gap_growth_is_caught():
    """The challenger learned from a training set where half of group g2's positives were recorded as 0, and sees
    the group: on an unbiased holdout it selects g2 far less often. Overall thresholds are loosened so that only
    the fairness rules can fail; an unbiased model of the same features passes them."""
    holdout = planted(3000, seed=3)
    options = {**SETTINGS, "sensitive": "group"}
    champion = evaluate(fit(planted(3000, seed=1), ["x0", "x1"]), holdout, **options)
    biased = evaluate(
        fit(planted(3000, seed=5, bias_against="g2"), ["x0", "x1", "group"]), holdout, **options
    )
    unbiased = evaluate(fit(planted(3000, seed=6), ["x0", "x1", "group"]), holdout, **options)
    loose = {"max_drop": 1.0, "max_slice_drop": 1.0}

    verdict = gate(biased, champion, **loose)
    assert not verdict.passed
    assert {r.name for r in verdict.failed} == {
        "fairness group: demographic parity difference",
        "fairness group: equal opportunity difference",
        "fairness group: equalized odds difference",
    }
    rates = biased.fairness.groups
    gap = biased.fairness.gaps["demographic_parity"].value
    assert gap == pytest.approx(abs(rates["g1"]["selection_rate"] - rates["g2"]["selection_rate"]))
    assert gate(unbiased, champion, max_fairness_increase=0.05, **loose).passed

    # at the default 0.02 the unbiased model's gaps fail on sampling noise alone; evidence="interval" asks the
    # whole paired interval to be beyond the threshold: the noise passes (with a note), the planted bias does not
    noisy = gate(unbiased, champion, **loose)
    assert not noisy.passed
    judged = gate(unbiased, champion, evidence="interval", **loose)
    assert judged.passed and judged.evidence == "interval"
    assert any("within noise" in note for note in judged.notes)
    still = gate(biased, champion, evidence="interval", **loose)
    assert {r.name for r in still.failed} == {r.name for r in verdict.failed}
    with pytest.raises(DataError, match="evidence: expected 'point' or 'interval'"):
        gate(biased, champion, evidence="vibes")


def test_no_champion_passes_on_the_challengers_metrics_with_a_note(clean):
    _, strong = clean
    verdict = gate(strong, None)
    assert verdict.passed and verdict.champion is None
    assert "no champion" in verdict.notes[0]
    assert all(rule.champion is None and rule.delta is None for rule in verdict.rules)


def test_gate_refuses_evaluations_on_different_rows_or_settings(clean):
    weak, _ = clean
    pipe = fit(planted(500, seed=1), ["x0", "x1"])
    other_rows = evaluate(pipe, planted(3000, seed=9), **SETTINGS)
    with pytest.raises(DataError, match="different rows"):
        gate(other_rows, weak)
    other_seed = evaluate(pipe, planted(3000, seed=3), **{**SETTINGS, "seed": 1})
    with pytest.raises(DataError, match="settings differ"):
        gate(other_seed, weak)
    with pytest.raises(DataError, match="max_drop"):
        gate(weak, weak, max_drop=-0.1)
    with pytest.raises(DataError, match="metric 'rmse'"):
        gate(weak, weak, metric="rmse")


def test_reports_are_self_contained_and_json_ready(clean):
    weak, strong = clean
    verdict = gate(strong, weak)
    page = report_html(strong, weak, verdict)
    assert page.count("data:image/png;base64,") == 2  # reliability diagram and the segment bars
    assert "PASS" in page and "<script" not in page and "http" not in page.split("<body>")[1]
    document = json.loads(report_json(strong, weak, verdict))
    assert document["verdict"]["verdict"] == "PASS"
    assert document["challenger"]["metrics"]["roc_auc"]["value"] == pytest.approx(
        strong.metrics["roc_auc"].value
    )
    assert len(document["challenger"]["slices"]) == 3


def test_regression_and_multiclass_evaluations():
    from fieldguide.data.synthetic import customers, regression_table
    from fieldguide.models.adapters import DecisionTreeRegressor, GaussianNB
    from fieldguide.pipeline import Pipeline

    reg = Pipeline.fit(regression_table(500), target="y", model=DecisionTreeRegressor(max_depth=4))
    ev = evaluate(reg, regression_table(300, seed=1), slices=["segment"], resamples=200)
    assert set(ev.metrics) == {"rmse", "mae", "r2"} and ev.calibration is None
    truth = regression_table(300, seed=1)["y"].to_numpy()
    rmse = np.sqrt(np.mean((reg.predict(regression_table(300, seed=1)) - truth) ** 2))
    assert ev.metrics["rmse"].value == pytest.approx(rmse)

    multi = Pipeline.fit(customers(500), target="contract", model=GaussianNB())
    ev = evaluate(multi, customers(300, seed=1), sensitive="region", resamples=200)
    assert set(ev.metrics) == {"log_loss", "accuracy", "macro_f1"}
    assert ev.calibration.kind == "top label" and ev.fairness is None
    assert "fairness needs a binary task" in ev.notes[0]


def test_a_classifier_without_probabilities_is_gated_on_accuracy():
    from fieldguide.models import LinearSVC

    holdout = planted(300, seed=2)
    pipe = fit(planted(500, seed=1), ["x0", "x1"], model=LinearSVC())
    ev = evaluate(pipe, holdout, resamples=100)
    assert set(ev.metrics) == {"accuracy", "f1"} and ev.calibration is None
    assert "gives no probabilities" in ev.notes[0]
    expected = np.mean(pipe.predict(holdout) == holdout["y"].to_numpy())
    assert ev.metrics["accuracy"].value == pytest.approx(expected)
    assert gate(ev, None).metric == "accuracy"
