"""Single checks on small seeded tables, and the ladder of levels."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from fieldguide.data import infer_schema, synthetic, value_counts
from fieldguide.pipeline import Pipeline
from fieldguide.readiness import LEVELS, Finding, check
from fieldguide.readiness._findings import level_of

RNG = np.random.default_rng(7)


def alarms(report, check_id):
    return [f for f in report.findings if f.id == check_id and f.severity != "pass"]


def test_unit_change_over_time_is_found():
    n = 4000
    start = dt.datetime(2024, 1, 1)
    when = [start + dt.timedelta(hours=int(h)) for h in np.sort(RNG.integers(0, 24 * 365, n))]
    seconds = np.exp(RNG.normal(4, 0.5, n))
    late = np.arange(n) >= 2600  # the logger switched to milliseconds
    df = pl.DataFrame(
        {"at": when, "latency": np.where(late, seconds * 1000, seconds), "other": RNG.normal(size=n)}
    )
    (finding,) = alarms(check(df), "B-4 units")
    assert finding.columns == ("latency", "at") and "x1000" in finding.message


def test_celsius_and_fahrenheit_by_site():
    n = 3000
    site = RNG.choice(["oslo", "boston"], n)
    celsius = RNG.normal(12, 6, n)
    df = pl.DataFrame({"site": site, "temperature": np.where(site == "boston", 1.8 * celsius + 32, celsius)})
    (finding,) = alarms(check(df), "B-4 units")
    assert "temperature" in finding.columns and "1.8x+32" in finding.message


def test_segments_that_differ_without_a_factor_are_not_units():
    n = 3000
    region = RNG.choice(["a", "b", "c"], n)
    shift = pl.Series(region).replace_strict({"a": 1.0, "b": 1.3, "c": 1.7}).to_numpy()
    df = pl.DataFrame({"region": region, "price": np.exp(RNG.normal(3, 0.4, n)) * shift})
    assert alarms(check(df), "B-4 units") == []


def test_time_coverage_gap():
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in RNG.integers(0, 365, 20_000)]
    days = [d for d in days if not dt.date(2024, 6, 1) <= d < dt.date(2024, 6, 15)]
    (finding,) = alarms(
        check(pl.DataFrame({"day": days, "x": RNG.normal(size=len(days))})), "B-11 time-coverage"
    )
    assert finding.value == 14  # 14 empty days: daily is the finest period with >= 20 rows each
    assert "2024-06" in finding.message


def test_outliers_beyond_the_fences_and_not_long_tails():
    x = RNG.normal(50, 5, 2000)
    x[[3, 99]] = [5000, -4000]
    df = pl.DataFrame({"x": x, "income": np.exp(RNG.normal(10, 1.0, 2000))})  # a long but honest tail
    findings = alarms(check(df), "B-10 outliers")
    assert [f.columns for f in findings] == [("x",)]
    assert findings[0].value == pytest.approx(2 / 2000)
    assert [e["row"] for e in findings[0].examples] == [3, 99]


def test_numeric_sentinel_and_nan_are_missing_spellings():
    x = RNG.normal(size=500)
    x[:20] = -999
    x[20:30] = np.nan
    (finding,) = alarms(check(pl.DataFrame({"x": x})), "B-1 missing-spellings")
    assert finding.severity == "fail" and "'-999'" in finding.message and "'NaN'" in finding.message


def test_zeros_far_below_the_other_values_may_be_missing():
    rng = np.random.default_rng(11)  # its own: the module's RNG is where earlier tests on this worker left it
    n = 500
    glucose = np.round(rng.normal(120, 25, n)).clip(44, None)
    glucose[:6], glucose[6] = 0, 44  # a glucose of 0 is an empty field written as a number
    df = pl.DataFrame(
        {
            "glucose": glucose,
            "pregnancies": rng.poisson(2.0, n).astype(float),  # 0 next to 1, 2, 3: a real count
            "rainfall": np.where(
                rng.random(n) < 0.6, 0.0, rng.uniform(5, 50, n)
            ),  # zeros in most rows: the norm
            "balance": np.where(
                rng.random(n) < 0.1, 0.0, rng.normal(300, 200, n)
            ),  # negatives too: 0 is a value
        }
    )
    report = check(df)
    (finding,) = alarms(report, "B-1 missing-spellings")
    assert finding.severity == "warn" and finding.columns == ("glucose",)
    assert finding.message == (
        "glucose: 6 zero(s) (1.2%) where the other values start at 44 (in steps of about 1): 0 may stand for missing"
    )
    assert [e["row"] for e in finding.examples] == [0, 1, 2, 3, 4]
    assert report.level == check(df.with_columns(glucose=pl.col("glucose").replace(0, None))).level


def test_declared_missing_values_are_counted_as_missing():
    n = 400
    glucose = np.round(RNG.normal(120, 25, n)).clip(44, None)
    glucose[:60] = 0
    df = pl.DataFrame({"glucose": glucose, "job": RNG.choice(["nurse", "cook", "unknown"], n)})
    report = check(df, missing={"glucose": [0], "job": ["unknown"]})
    messages = [f.message for f in report.findings if f.severity != "pass"]
    assert "glucose: missing is written 1 way(s): '0'" in messages  # no longer a guess ("may stand for")
    assert "glucose: 15% missing" in messages
    assert "job: missing is written 1 way(s): 'unknown'" in messages
    assert not any("may stand for missing" in m for m in messages)


def test_identifier_used_as_feature_and_identifier_leak():
    df = synthetic.customers(800, seed=5).sort("churn").with_columns(customer_id=pl.int_range(800))
    report = check(df, target="churn")
    (leak,) = [f for f in alarms(report, "A-3 leakage") if "customer_id" in f.columns]
    assert "identifier predicts" in leak.message
    schema = infer_schema(df, target="churn").replace("customer_id", kind="numeric", role="feature")
    as_feature = check(df, schema=schema)
    assert [f.columns for f in alarms(as_feature, "B-9 identifiers")] == [("customer_id",)]


def test_ignored_columns_leave_band_a_and_the_identifier_check():
    df = synthetic.customers(800, seed=5).with_columns(
        row=pl.int_range(800),  # an identifier its name does not give away
        refund=pl.col("churn") * 25.0 + pl.col("monthly_charges") * 0.01,  # known only after churn
    )
    flagged = check(df, target="churn")
    assert [f.columns for f in alarms(flagged, "B-9 identifiers")] == [("row",)]
    assert ("refund", "churn") in [f.columns for f in alarms(flagged, "A-3 leakage")]
    report = check(df, target="churn", ignore=["row", "refund"])
    assert alarms(report, "B-9 identifiers") == alarms(report, "A-3 leakage") == []
    (schema,) = [f for f in report.findings if f.id == "C-2 schema"]
    assert schema.message.endswith("; ignored: row, refund")
    assert {c["name"]: c["role"] for c in report.columns}["refund"] == "ignored"
    stored = infer_schema(df, target="churn")  # a stored schema and --ignore together
    assert alarms(check(df, schema=stored, ignore=["row", "refund"]), "A-3 leakage") == []


def test_a_rare_class_in_a_sampled_table_keeps_rows_for_every_fold():
    # 60,000 rows are sampled down to 5,000: the 12 rows of class 'c' would keep their share, one row, which
    # left a training fold without 'c' and failed the learnability check with an IndexError
    n = 60_000
    x = RNG.normal(size=n)
    y = np.where(x > 0, "a", "b")
    y[:12] = "c"
    report = check(pl.DataFrame({"x": x, "noise": RNG.normal(size=n), "y": y}), target="y")
    (balance,) = [f for f in report.findings if f.id == "A-2 class-balance"]
    assert balance.severity == "warn" and "('c', 12)" in balance.message
    (learnability,) = [f for f in report.findings if f.id == "A-4 learnability"]
    assert learnability.severity == "pass" and "left out" not in learnability.message


def test_leakage_and_learnability_are_checked_when_a_class_is_too_rare():
    n = 400
    x = RNG.normal(size=n)
    y = np.where(x > 0, "a", "b").astype("<U4")
    y[:1], y[1:3] = "lone", "pair"  # one row cannot be both learned from and scored; two can
    df = pl.DataFrame({"x": x, "leak": (x > 0) + RNG.normal(0, 0.01, n), "noise": RNG.normal(size=n), "y": y})
    report = check(df, target="y")
    assert [f.message for f in alarms(report, "A-2 class-balance")] == [
        "class 'lone' of 'y' has only 1 example(s)"
    ]
    assert {f.columns[0] for f in alarms(report, "A-3 leakage")} <= {"x", "leak"}
    (learnability,) = [f for f in report.findings if f.id == "A-4 learnability"]
    assert learnability.message.endswith("on 399 rows); left out: 1 class(es) with a single row ('lone')")


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_leaked_copy_of_the_target_is_found_for_every_task(task):
    n = 3000
    signal = RNG.normal(size=n)
    if task == "regression":
        y = 3 * signal + RNG.normal(size=n)
        leak = y + RNG.normal(0, 0.1, n)  # written after the fact
    else:
        y = np.digitize(signal + RNG.normal(size=n), [-0.5, 0.5])
        leak = y + RNG.normal(0, 0.2, n)
    df = pl.DataFrame(
        {"signal": signal, "noise": RNG.normal(size=n), "leak": leak, "y": y.astype(np.float64)}
    )
    if task == "multiclass":
        df = df.with_columns(pl.col("y").cast(pl.Int64).cast(pl.String).replace({"0": "low", "2": "high"}))
    report = check(df, target="y")
    assert [f.columns for f in alarms(report, "A-3 leakage")] == [("leak", "y")]
    assert next(f for f in report.findings if f.id == "A-4 learnability").severity == "pass"


def test_columns_named_like_the_checks_own_helpers():
    # value counts name their columns "value" and "count"; the spelling check adds "key": none may clash
    n = 600
    df = pl.DataFrame(
        {
            "count": RNG.choice(["Monthly", "monthly", "Yearly"], n),
            "key": RNG.choice(["a", "b", "NA", "?"], n),
            "value": [f"user{i}@example.com" for i in range(n)],
            "n": RNG.normal(size=n),
            "y": RNG.choice(["no", "yes"], n),
        }
    )
    report = check(df, target="y")
    found = {f.id: f.columns for f in report.findings if f.severity != "pass"}
    assert found["B-3 category-variants"] == ("count",)
    assert found["B-1 missing-spellings"] == ("key",)
    assert found["C-3 personal-data"] == ("value",)
    # the featurizer and the pipeline's reference statistics count values too
    pipeline = Pipeline.fit(df.drop("value"), target="y", model=LogisticRegression())
    assert pipeline.reference["features"]["count"]["counts"] == dict(value_counts(df["count"]).rows())
    assert pipeline.predict(df.drop("value").head(3)).shape == (3,)


def test_stored_schema_mismatch_fails_c2():
    df = synthetic.customers(200)
    schema = infer_schema(df, target="churn")
    report = check(df.drop("age"), schema=schema)
    (finding,) = alarms(report, "C-2 schema")
    assert finding.severity == "fail" and "age" in finding.message
    assert report.level == "C3"


def test_rare_class_fails_class_balance():
    df = synthetic.customers(600, seed=6).with_columns(
        churn=pl.when(pl.int_range(pl.len()) < 4)
        .then(pl.lit("rare"))
        .otherwise(pl.col("churn").cast(pl.String))
    )
    report = check(df, target="churn")
    (finding,) = alarms(report, "A-2 class-balance")
    assert finding.severity == "fail" and finding.value == 4
    assert report.level == "A3"


@pytest.mark.parametrize(
    ("findings", "has_target", "level"),
    [
        ([], False, "B1"),
        ([], True, "A1"),
        ([Finding("C-1 load", "fail", "bad")], False, "C4"),
        ([Finding("C-3 personal-data", "block", "email")], True, "C2"),
        ([Finding("B-5 duplicates", "warn", "dups")], True, "A1"),  # warnings do not lower the level
        ([Finding("B-5 duplicates", "fail", "dups")], True, "B3"),
        (
            [Finding("B-1 missing-spellings", "fail", "x"), Finding("A-4 learnability", "fail", "y")],
            True,
            "C1",
        ),
        ([Finding("A-4 learnability", "fail", "y")], True, "A2"),
        ([Finding("A-3 leakage", "fail", "y")], True, "A3"),
    ],
)
def test_level_is_highest_with_all_checks_below_passing(findings, has_target, level):
    assert level_of(findings, has_target) == level
    assert level in LEVELS


def test_findings_refuse_unknown_ids_and_severities():
    with pytest.raises(ValueError, match="finding id"):
        Finding("B-99 nothing", "warn", "x")
    with pytest.raises(ValueError, match="severity"):
        Finding("B-5 duplicates", "bad", "x")


@pytest.mark.parametrize("ties", [False, True])
def test_rank_auc_matches_sklearn(ties):
    from sklearn.metrics import roc_auc_score

    from fieldguide.readiness._appropriate import auc

    rng = np.random.default_rng(11)
    positive = rng.random(500) < 0.3
    score = positive + rng.normal(0, 1.0, 500)
    if ties:
        score = np.round(score)
    assert auc(positive, score) == pytest.approx(roc_auc_score(positive, score), rel=1e-12)


def test_band_a_samples_big_tables_by_class(monkeypatch):
    from fieldguide.readiness import _appropriate

    monkeypatch.setattr(_appropriate, "ROW_BUDGET", 300)
    df = synthetic.customers(1500, seed=8)
    report = check(df, target="churn")
    (learn,) = [f for f in report.findings if f.id == "A-4 learnability"]
    assert "on 300 rows" in learn.message or "on 301 rows" in learn.message  # each class rounded up


def test_target_computed_from_several_columns_is_a_leak():
    # a total and its parts, as bike-sharing's cnt = casual + registered: neither part alone reaches the limit
    n = 3000
    casual, registered = RNG.gamma(2.0, 20.0, n), RNG.gamma(4.0, 30.0, n)
    honest = RNG.normal(size=n)
    df = pl.DataFrame(
        {"casual": casual, "registered": registered, "temp": honest, "cnt": casual + registered}
    )
    (leak,) = alarms(check(df, target="cnt"), "A-3 leakage")
    assert set(leak.columns) == {"casual", "registered", "cnt"} and leak.severity == "fail"
    assert "1·casual" in leak.message and "1·registered" in leak.message
    # a strong but honest relation (R² 0.99 out of fold) is a good model, not a leak
    noisy = df.with_columns(cnt=pl.col("cnt") + RNG.normal(0, 0.1 * float(np.std(casual + registered)), n))
    assert alarms(check(noisy, target="cnt"), "A-3 leakage") == []
