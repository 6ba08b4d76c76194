"""The featurizer: train/serve equivalence (Hypothesis), scikit-learn's numbers, encodings, persistence."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fieldguide.data import ColumnSpec, Featurizer, Schema, infer_schema, synthetic
from fieldguide.errors import ArtifactError, SchemaError

DATETIME = "Datetime(time_unit='us', time_zone=None)"
SCHEMA = Schema(
    (
        ColumnSpec("id", "identifier", role="identifier", dtype="Int64"),
        ColumnSpec("num", "numeric", dtype="Float64"),
        ColumnSpec("count", "numeric", dtype="Int64"),
        ColumnSpec("numtext", "numeric", dtype="String", missing_values=("NA",)),
        ColumnSpec("cat", "categorical", dtype="String"),
        ColumnSpec("flag", "boolean", dtype="Boolean"),
        ColumnSpec("when", "datetime", dtype=DATETIME),
        ColumnSpec("note", "text", dtype="String"),
        ColumnSpec("y", "numeric", role="target", dtype="Float64"),
    )
)
POLARS_TYPES = {
    "id": pl.Int64,
    "num": pl.Float64,
    "count": pl.Int64,
    "numtext": pl.String,
    "cat": pl.String,
    "flag": pl.Boolean,
    "when": pl.Datetime("us"),
    "note": pl.String,
    "y": pl.Float64,
}


def maybe(strategy):
    return st.none() | strategy


def tables(min_rows: int = 1):
    categories = st.sampled_from(["a", "b", "ü", "日本", "", " a"]) | st.text(max_size=4)
    rows = st.fixed_dictionaries(
        {
            "id": st.integers(0, 10**6),
            "num": maybe(st.floats(width=64)),  # NaN, ±inf, extremes
            "count": maybe(st.integers(-(2**62), 2**62)),
            "numtext": maybe(st.sampled_from(["1.5", "NA", "abc", "-2", " 3e5 ", "inf"])),
            "cat": maybe(categories),
            "flag": maybe(st.booleans()),
            "when": maybe(st.datetimes(min_value=dt.datetime(1800, 1, 1), max_value=dt.datetime(2200, 1, 1))),
            "note": maybe(st.text(max_size=20)),
            "y": st.floats(0, 1),
        }
    )
    return st.lists(rows, min_size=min_rows, max_size=12).map(
        lambda rs: pl.DataFrame(rs, schema=POLARS_TYPES, orient="row")
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    train=tables(),
    serve=tables(),
    max_onehot=st.integers(1, 4),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_table_and_records_give_the_same_rows(train, serve, max_onehot, dtype) -> None:
    featurizer = Featurizer(SCHEMA, max_onehot=max_onehot, dtype=dtype).fit(train)
    table = featurizer.transform(serve)
    records = serve.rows(named=True)
    assert table.dtype == np.dtype(dtype)
    assert table.shape == (serve.height, len(featurizer.feature_names_out))
    np.testing.assert_array_equal(featurizer.transform_records(records), table)
    for i, record in enumerate(records):
        np.testing.assert_array_equal(featurizer.transform_records([record])[0], table[i])
    np.testing.assert_array_equal(Featurizer.from_json(featurizer.to_json()).transform(serve), table)


STRICT = Schema(
    tuple(
        dataclasses.replace(c, nullable=False, categories=("a", "b") if c.kind == "categorical" else None)
        for c in SCHEMA
    )
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_validation_is_the_same_for_tables_and_records(table) -> None:
    found = STRICT.validate(table)
    assert found == STRICT.validate_records(table.rows(named=True))
    assert all(v.row is not None and 0 <= v.row < table.height for v in found)


def test_outputs_are_finite_for_messy_but_ordinary_data() -> None:
    train = pl.DataFrame(
        {"id": [1, 2, 3], "num": [1.0, float("nan"), float("inf")], "count": [1, None, 3],
         "numtext": ["NA", "abc", "2"], "cat": ["a", None, "b"], "flag": [True, None, False],
         "when": [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 2, 1)], "note": ["hi there", None, ""],
         "y": [0.0, 1.0, 0.0]},
        schema=POLARS_TYPES,
    )  # fmt: skip
    featurizer = Featurizer(SCHEMA).fit(train)
    assert np.isfinite(featurizer.transform(train)).all()
    assert np.isfinite(
        featurizer.transform_records([{}, {"num": "oops", "cat": "zzz", "when": "2024-05-01"}])
    ).all()


def test_serving_strings_equal_training_types() -> None:
    df = synthetic.customers(200, seed=3)
    featurizer = Featurizer(infer_schema(df, target="churn")).fit(df)
    row = df.row(7, named=True)
    as_json = json.loads(
        json.dumps({k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()})
    )
    np.testing.assert_array_equal(featurizer.transform_records([as_json])[0], featurizer.transform(df)[7])


# --- the numbers, against scikit-learn -----------------------------------------------------------------------


def test_numbers_match_scikit_learn() -> None:
    n = 500

    def table(seed_shift: int, levels: list[str]) -> pl.DataFrame:
        r = np.random.default_rng(seed_shift)
        x = r.normal(10, 3, (n, 3))
        x[r.random((n, 3)) < [0.1, 0.0, 0.3]] = np.nan
        return pl.DataFrame(
            {
                "a": x[:, 0],
                "b": x[:, 1],
                "c": x[:, 2],
                "colour": r.choice(levels, n),
                "size": r.choice(["S", "M"], n),
            }
        ).with_columns(pl.col("a", "b", "c").fill_nan(None))

    train, test = table(1, ["red", "green", "blue"]), table(2, ["red", "green", "blue", "violet"])
    featurizer = Featurizer(infer_schema(train)).fit(train)
    ours = dict(zip(featurizer.feature_names_out, featurizer.transform(test).T, strict=True))

    numeric, categorical = ["a", "b", "c"], ["colour", "size"]
    reference = ColumnTransformer(
        [
            ("scaled", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("missing", MissingIndicator(features="missing-only"), numeric),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    ).fit(train.to_pandas())
    expected = reference.transform(test.to_pandas())
    names = [*numeric, "a__missing", "c__missing"]
    names += [f"{column}={level}" for column, levels in zip(categorical, reference.named_transformers_["onehot"].categories_, strict=True) for level in levels]  # fmt: skip
    assert set(ours) == {*names, "colour__other", "size__other"}
    np.testing.assert_allclose(
        np.column_stack([ours[name] for name in names]), expected, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(ours["colour__other"], (test["colour"] == "violet").cast(float).to_numpy())


def test_high_cardinality_uses_training_frequencies() -> None:
    train = pl.DataFrame({"city": ["oslo"] * 3 + ["rome"] * 2 + ["lima"]})
    featurizer = Featurizer(infer_schema(train), max_onehot=2).fit(train)
    assert featurizer.feature_names_out == ["city__frequency"]
    got = featurizer.transform_records(
        [{"city": "oslo"}, {"city": "lima"}, {"city": "paris"}, {"city": None}]
    )
    np.testing.assert_allclose(got[:, 0], [3 / 6, 1 / 6, 0.0, 0.0])


def test_datetime_and_text_parts() -> None:
    train = pl.DataFrame(
        {"when": [dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 2, 12)], "note": ["one two three", "x"]}
    )
    schema = Schema((ColumnSpec("when", "datetime", dtype=DATETIME), ColumnSpec("note", "text")))
    featurizer = Featurizer(schema).fit(train)
    parts = {(state["name"], part["part"]): part for state in featurizer.columns_ for part in state["parts"]}
    raw = {
        name: featurizer.transform(train)[:, i] * parts[key]["scale"] + parts[key]["mean"]
        for i, (name, key) in enumerate(zip(featurizer.feature_names_out, parts, strict=True))
    }
    assert featurizer.feature_names_out == [
        "when__year", "when__month", "when__weekday", "when__hour", "when__days", "note__length", "note__words"
    ]  # fmt: skip
    expected = {"when__year": [2024, 2024], "when__month": [1, 3], "when__weekday": [1, 6], "when__hour": [0, 12],
                "when__days": [0, 61.5], "note__length": [13, 1], "note__words": [3, 1]}  # fmt: skip
    for name, values in expected.items():
        np.testing.assert_allclose(raw[name], values, err_msg=name)


def test_boolean_strings_and_missing_indicator() -> None:
    train = pl.DataFrame({"member": ["yes", "no", None, "YES"]})
    featurizer = Featurizer(infer_schema(train)).fit(train)
    assert featurizer.feature_names_out == ["member", "member__missing"]
    np.testing.assert_array_equal(featurizer.transform(train), [[1, 0], [0, 0], [1, 1], [1, 0]])


def test_dropped_columns_and_pandas_input() -> None:
    df = synthetic.customers(100)
    featurizer = Featurizer(infer_schema(df, target="churn")).fit(df.to_pandas())
    names = featurizer.feature_names_out
    assert not any(name.startswith(("customer_id", "churn")) for name in names)
    np.testing.assert_array_equal(featurizer.transform(df.to_pandas()), featurizer.transform(df))
    # serving needs no target or identifier
    np.testing.assert_array_equal(
        featurizer.transform(df.drop("churn", "customer_id")), featurizer.transform(df)
    )


# --- persistence and errors ----------------------------------------------------------------------------------


def test_json_round_trip_transforms_identically() -> None:
    df = synthetic.customers(300)
    featurizer = Featurizer(infer_schema(df, target="churn"), max_onehot=3).fit(df)
    text = featurizer.to_json()
    assert "NaN" not in text and "Infinity" not in text
    restored = Featurizer.from_json(text)
    assert restored.feature_names_out == featurizer.feature_names_out
    np.testing.assert_array_equal(restored.transform(df), featurizer.transform(df))
    assert Featurizer.from_json(restored.to_json()).to_dict() == featurizer.to_dict()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="pickle"), r"expected \{'format': 'fieldguide.featurizer'"),
        (lambda d: d.pop("columns"), r"malformed fitted state \(KeyError"),
        (lambda d: d["columns"][0].pop("parts"), r"malformed fitted state"),
        (lambda d: d["columns"][0]["parts"][0].update(part="exec"), r"unknown derived feature 'exec'"),
    ],
)
def test_tampered_json_is_refused(edit, message) -> None:
    data = (
        Featurizer(infer_schema(pl.DataFrame({"x": [1.0, 2.0]})))
        .fit(pl.DataFrame({"x": [1.0, 2.0]}))
        .to_dict()
    )
    edit(data)
    with pytest.raises(ArtifactError, match=message):
        Featurizer.from_json(json.dumps(data))
    with pytest.raises(ArtifactError, match="not valid JSON"):
        Featurizer.from_json("{")


def test_usage_errors_name_the_problem() -> None:
    schema = infer_schema(pl.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    with pytest.raises(SchemaError, match="not fitted"):
        Featurizer(schema).transform(pl.DataFrame({"x": [1.0], "y": ["a"]}))
    with pytest.raises(SchemaError, match=r"missing feature column\(s\) \['y'\]"):
        Featurizer(schema).fit(pl.DataFrame({"x": [1.0]}))
    with pytest.raises(SchemaError, match="empty table"):
        Featurizer(schema).fit(pl.DataFrame({"x": [], "y": []}))
    with pytest.raises(ValueError, match="dtype must be one of"):
        Featurizer(schema, dtype="int8")
