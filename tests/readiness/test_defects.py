"""Each defect planted alone into a clean table is found, in the right column and band; the clean table is quiet."""

import numpy as np
import polars as pl
import pytest

from fieldguide.data import synthetic
from fieldguide.readiness import check
from fieldguide.readiness._demo import DEFECTS, TARGET, planted

# defect -> (finding id, column it must name, severity)
EXPECTED = {
    "emails": ("C-3 personal-data", "email", "block"),
    "card_numbers": ("C-3 personal-data", "card", "block"),
    "phones": ("C-3 personal-data", "phone", "block"),
    "duplicate_rows": ("B-5 duplicates", "age", "warn"),
    "conflicting_rows": ("B-6 conflicting-labels", TARGET, "fail"),
    "seconds_and_milliseconds": ("B-4 units", "session_length", "warn"),
    "leaked_target": ("A-3 leakage", "retention_score", "fail"),
    "constant_column": ("B-8 constant", "country", "warn"),
    "mixed_types": ("B-2 mixed-types", "income", "warn"),
    "category_variants": ("B-3 category-variants", "contract", "warn"),
    "missing_spellings": ("B-1 missing-spellings", "region", "fail"),
}


def alarms(report):
    return [f for f in report.findings if f.severity != "pass"]


def test_every_defect_has_an_expectation():
    assert set(EXPECTED) == set(DEFECTS)


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_table_raises_no_alarm(seed):
    report = check(planted("clean", n_rows=1000, seed=seed), target=TARGET, seed=seed)
    assert alarms(report) == []
    assert report.level == "A1"


@pytest.mark.parametrize("defect", sorted(EXPECTED))
def test_planted_defect_is_found(defect):
    finding_id, column, severity = EXPECTED[defect]
    # Band A runs only where the defect concerns the target; the clean-table test covers it otherwise.
    target = TARGET if finding_id.startswith("A") or finding_id == "B-6 conflicting-labels" else None
    report = check(planted(defect, n_rows=1000), target=target)
    found = [f for f in alarms(report) if f.id == finding_id and column in f.columns]
    assert found, (
        f"{defect}: no {finding_id} on {column}; alarms: {[(f.id, f.columns) for f in alarms(report)]}"
    )
    assert found[0].severity == severity
    assert found[0].band == finding_id[0]
    unexpected = {f.id for f in alarms(report)} - {finding_id, *SIDE_EFFECTS.get(defect, ())}
    assert not unexpected, f"{defect}: unexpected alarms {unexpected}"


# Alarms that a defect implies besides its own: conflicting rows are duplicates of their features too, and a
# missing rate goes with missing spellings.
SIDE_EFFECTS = {
    "conflicting_rows": ("B-5 duplicates",),
    "missing_spellings": ("B-7 missing-rate",),
}


def test_personal_data_is_masked_in_every_output():
    df = planted("emails").hstack(planted("card_numbers").select("card"))
    report = check(df, target=TARGET)
    text = report.to_json()
    from fieldguide.readiness._render import to_html

    page = to_html(report)
    for raw in [*df["email"].head(50), *df["card"].head(50)]:
        assert raw not in text and raw not in page
    examples = [e for f in report.findings if f.id == "C-3 personal-data" for e in f.examples]
    assert examples and all("***" in str(e.get("email", e.get("card"))) for e in examples)


def test_conflicts_need_a_target():
    report = check(planted("conflicting_rows"))
    assert not [f for f in report.findings if f.id == "B-6 conflicting-labels"]
    assert report.level == "B1"  # duplicates warn only


def test_unlearnable_target_fails_learnability():
    df = synthetic.customers(1500, seed=3).with_columns(
        churn=pl.Series(np.random.default_rng(12345).integers(0, 2, 1500))
    )
    report = check(df, target=TARGET)
    (learn,) = [f for f in report.findings if f.id == "A-4 learnability"]
    assert learn.severity == "fail" and "p=" in learn.message
    assert report.level == "A2"


def test_regression_target_is_learnable():
    report = check(synthetic.regression_table(1500, seed=2), target="y")
    assert report.task == "regression"
    assert alarms(report) == []
    (learn,) = [f for f in report.findings if f.id == "A-4 learnability"]
    assert learn.value > 0.5  # relative MSE reduction is about R² here
