"""Schema inference (table-driven), the JSON round trip (Hypothesis), user edits, validation messages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldguide.data import ColumnSpec, Schema, Violation, _schema, infer_schema, synthetic, typed_frame
from fieldguide.data._schema import DATETIME_FORMATS, KINDS, ROLES
from fieldguide.errors import SchemaError

N = 30
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "it", "rains"]

# (description, column values, target?, expected kind, expected role, other expected fields)
INFERENCE_CASES = [
    ("floats", [0.5 * i for i in range(N)], False, "numeric", "feature", {"min": 0.0, "max": 14.5}),
    ("integers stay numeric", [i % 4 for i in range(N)], False, "numeric", "feature", {"nullable": False}),
    ("0/1 integers", [i % 2 for i in range(N)], False, "boolean", "feature", {}),
    ("booleans", [i % 3 == 0 for i in range(N)], False, "boolean", "feature", {}),
    ("yes/no strings", ["yes", "No ", "YES"] * 10, False, "boolean", "feature", {}),
    (
        "numbers as text",
        [str(i / 2) for i in range(N - 2)] + ["NA", " 3"],
        False,
        "numeric",
        "feature",
        {"missing_values": ("NA",), "nullable": True, "dtype": "String"},
    ),
    (
        "missing spellings",
        ["1", "N/A", "?", "", "2"] * 6,
        False,
        "numeric",
        "feature",
        {"missing_values": ("", "?", "N/A")},
    ),
    (
        "leading zeros are codes",
        ["007", "012", "100"] * 10,
        False,
        "categorical",
        "feature",
        {"categories": ("007", "012", "100")},
    ),
    (
        "ISO dates",
        [f"2024-01-{d:02d}" for d in range(1, N + 1)],
        False,
        "datetime",
        "feature",
        {"format": "%Y-%m-%d", "min": "2024-01-01T00:00:00", "max": "2024-01-30T00:00:00"},
    ),
    (
        "ISO datetimes",
        [f"2024-01-01T{h % 24:02d}:30:00" for h in range(N)],
        False,
        "datetime",
        "feature",
        {"format": "%Y-%m-%dT%H:%M:%S"},
    ),
    (
        "datetimes",
        [dt.datetime(2024, 1, 1) + dt.timedelta(hours=h) for h in range(N)],
        False,
        "datetime",
        "feature",
        {"format": None},
    ),
    (
        "dates",
        [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(N)],
        False,
        "datetime",
        "feature",
        {},
    ),
    ("unique ints named id", list(range(100, 100 + N)), False, "identifier", "identifier", {}),
    ("repeated ints named id", [i % 5 for i in range(N)], False, "categorical", "feature", {}),
    (
        "unique short strings",
        [f"user{i}@example.com" for i in range(N)],
        False,
        "identifier",
        "identifier",
        {},
    ),
    (
        "free text",
        [" ".join(WORDS[i % 5 : i % 5 + 6]) + f" {i}" for i in range(N)],
        False,
        "text",
        "feature",
        {},
    ),
    (
        "few strings",
        ["red", "green", "blue"] * 10,
        False,
        "categorical",
        "feature",
        {"categories": ("blue", "green", "red")},
    ),
    ("integer class target", [i % 3 for i in range(N)], True, "categorical", "target", {}),
    ("0/1 target", [i % 2 for i in range(N)], True, "boolean", "target", {}),
    ("float target", [0.1 * i for i in range(N)], True, "numeric", "target", {}),
    ("string target", [f"label{i}" for i in range(N)], True, "categorical", "target", {}),
    ("all null", [None] * N, False, "categorical", "ignored", {"nullable": True}),
]
NAMES = {"unique ints named id": "customer_id", "repeated ints named id": "store_id"}


# String columns are inferred from their distinct values and counts when values repeat, else row by row: every
# case runs both ways (0: always counted; a huge ratio: never).
BOTH_WAYS = pytest.mark.parametrize("distinct_ratio", [0, 10**9], ids=["counted", "rows"])


@BOTH_WAYS
@pytest.mark.parametrize(
    ("description", "values", "is_target", "kind", "role", "fields"),
    INFERENCE_CASES,
    ids=[case[0] for case in INFERENCE_CASES],
)
def test_inference(description, values, is_target, kind, role, fields, distinct_ratio, monkeypatch) -> None:
    monkeypatch.setattr(_schema, "DISTINCT_RATIO", distinct_ratio)
    name = NAMES.get(description, "x")
    spec = infer_schema(pl.DataFrame({name: values}), target=name if is_target else None)[name]
    assert (spec.kind, spec.role) == (kind, role)
    for field, expected in fields.items():
        assert getattr(spec, field) == expected, field


TOKENS = [
    "a",
    "B ",
    "yes",
    "no",
    "NA",
    "",
    "-999",
    "1",
    "2.5",
    "007",
    "2024-01-02",
    "long words in a row",
    None,
]


@given(
    values=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40),
    name=st.sampled_from(["x", "user_id"]),
    is_target=st.booleans(),
)
def test_counting_distinct_values_infers_what_rows_do(values, name, is_target) -> None:
    df = pl.DataFrame({name: values}, schema={name: pl.String})
    target = name if is_target else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_schema, "DISTINCT_RATIO", 0)
        counted = infer_schema(df, target=target)
        patch.setattr(_schema, "DISTINCT_RATIO", 10**9)
        rows = infer_schema(df, target=target)
    assert counted == rows


def test_nested_columns_are_ignored() -> None:
    spec = infer_schema(pl.DataFrame({"tags": [["a"], ["b", "c"]]}))["tags"]
    assert (spec.kind, spec.role) == ("text", "ignored")


def test_customers_table_is_inferred_as_a_person_would() -> None:
    schema = infer_schema(synthetic.customers(300), target="churn")
    kinds = {c.name: c.kind for c in schema}
    assert kinds == {
        "customer_id": "identifier",
        "signup_date": "datetime",
        "age": "numeric",
        "tenure_months": "numeric",
        "monthly_charges": "numeric",
        "contract": "categorical",
        "payment_method": "categorical",
        "region": "categorical",
        "is_senior": "boolean",
        "has_partner": "boolean",
        "support_calls": "numeric",
        "churn": "boolean",
    }
    assert schema.target == "churn"
    assert schema["age"].nullable and not schema["tenure_months"].nullable


def test_unknown_target_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"target 'churn' is not a column; columns are \['a'\]"):
        infer_schema(pl.DataFrame({"a": [1]}), target="churn")


# --- JSON round trip -----------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(max_size=12)
specs = st.builds(
    ColumnSpec,
    name=text,
    kind=st.sampled_from(KINDS),
    role=st.sampled_from([r for r in ROLES if r != "target"]),
    nullable=st.booleans(),
    dtype=st.sampled_from(
        ["Int64", "Float64", "String", "Boolean", "Datetime(time_unit='us', time_zone=None)"]
    ),
    categories=st.none() | st.lists(text, max_size=5).map(tuple),
    min=st.none() | finite | text,
    max=st.none() | finite | text,
    missing_values=st.lists(text, max_size=3).map(tuple),
    format=st.none() | st.sampled_from(DATETIME_FORMATS),
)
schemas = st.lists(specs, max_size=6, unique_by=lambda s: s.name).map(lambda cs: Schema(tuple(cs)))


@given(schemas)
def test_json_round_trip_is_exact(schema: Schema) -> None:
    assert Schema.from_json(schema.to_json()) == schema
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def test_round_trip_of_an_inferred_schema() -> None:
    schema = infer_schema(synthetic.customers(100), target="churn")
    assert Schema.from_json(schema.to_json()) == schema


def test_edited_json_is_obeyed() -> None:
    df = pl.DataFrame({"zip": [1000, 2000, 1000, 3000], "amount": [1.0, 2.0, 3.0, 4.0]})
    data = json.loads(infer_schema(df).to_json())
    assert [c["kind"] for c in data["columns"]] == ["numeric", "numeric"]
    data["columns"][0].update(kind="categorical", categories=["1000", "2000"])
    data["columns"][1]["role"] = "ignored"
    schema = Schema.from_json(json.dumps(data))
    found = schema.validate(df)
    assert [(v.rule, v.row, v.found, v.severity) for v in found] == [
        ("unknown_category", 3, "int 3000", "warning")
    ]
    assert schema.replace("zip", kind="numeric")["zip"].kind == "numeric"
    assert Schema.from_json(json.dumps(data)).validate(df.with_columns(amount=pl.lit("not checked"))) == found


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"columns": [{"name": "a", "kind": "number"}]},
            r"column 'a': kind must be one of numeric, categorical",
        ),
        ({"columns": [{"name": "a", "kind": "numeric", "role": "label"}]}, r"role must be one of feature"),
        (
            {"columns": [{"name": "a", "kind": "numeric", "colour": 1}]},
            r"column 'a': unknown field\(s\) \['colour'\]",
        ),
        ({"columns": [{"name": "a"}]}, r"every column needs 'name' and 'kind'"),
        (
            {"columns": [{"name": "a", "kind": "numeric"}] * 2},
            r"column names must be unique, found duplicates \['a'\]",
        ),
        (
            {"columns": [{"name": n, "kind": "numeric", "role": "target"} for n in "ab"]},
            r"at most one column",
        ),
        ({"version": 2, "columns": []}, r"unsupported version 2"),
        ({"cols": []}, r"expected an object with a 'columns' list"),
    ],
)
def test_bad_schema_json_is_refused_by_name(data, message) -> None:
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict(data)
    with pytest.raises(SchemaError, match="not valid JSON"):
        Schema.from_json("{")


def test_unknown_column_lookup_names_the_columns() -> None:
    with pytest.raises(KeyError, match=r"no column 'b'; columns are \['a'\]"):
        Schema((ColumnSpec("a", "numeric"),))["b"]


def test_ignored_columns_are_kept_but_never_features_nor_required() -> None:
    df = synthetic.customers(50, seed=3).with_columns(refund=pl.col("churn") * 10.0)
    schema = infer_schema(df, target="churn", ignore=["refund", "region"])
    assert [(c.name, c.role) for c in schema if c.role == "ignored"] == [
        ("region", "ignored"),
        ("refund", "ignored"),
    ]
    assert schema["refund"].kind == "numeric"  # still inferred, so a person editing the JSON sees what it is
    assert {"refund", "region"}.isdisjoint(c.name for c in schema.features)
    assert schema.validate(df.drop("refund", "region")) == []
    assert schema.validate(df.with_columns(refund=pl.lit("n/a"))) == []  # not checked either
    assert infer_schema(df, target="churn").ignoring(["refund", "region"]) == schema
    assert Schema.from_json(schema.to_json()) == schema


@pytest.mark.parametrize(
    ("ignore", "message"),
    [
        (["refnd"], r"ignore: 'refnd' is not a column; columns are customer_id, signup_date, .*, churn$"),
        (["churn"], "ignore: 'churn' is the target; a target cannot be ignored"),
    ],
)
def test_ignoring_an_unknown_column_or_the_target_is_refused(ignore, message) -> None:
    with pytest.raises(SchemaError, match=message):
        infer_schema(synthetic.customers(20), target="churn", ignore=ignore)


def test_declared_missing_values_are_read_as_null_in_numbers_and_text() -> None:
    df = pl.DataFrame({"glucose": [0, 85, 0, 120, 44], "job": ["nurse", "unknown", "cook", "nurse", "cook"]})
    schema = infer_schema(df, missing={"glucose": [0], "job": "unknown"})
    assert (schema["glucose"].missing_values, schema["glucose"].min) == (("0",), 44.0)  # 0 is not its minimum
    assert schema["job"].categories == ("cook", "nurse") and schema["job"].nullable
    typed = typed_frame(schema, df)
    assert typed["glucose"].to_list() == [None, 85.0, None, 120.0, 44.0]
    assert typed["job"].to_list() == ["nurse", None, "cook", "nurse", "cook"]
    strict = Schema(tuple(dataclasses.replace(c, nullable=False) for c in infer_schema(df)))
    assert strict.with_missing({"glucose": [0.0]})["glucose"].nullable  # a declared value is a missing one
    assert strict.with_missing({"glucose": [0]}).validate(df) == []
    assert Schema.from_json(schema.to_json()) == schema
    assert schema.with_missing({"glucose": ["0"]}) == schema  # declaring a value twice keeps it once


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"glucos": [0]}, r"missing: 'glucos' is not a column; columns are glucose$"),
        ({"glucose": ["n/a"]}, r"missing: 'glucose' holds numbers \(Int64\); 'n/a' is not one"),
    ],
)
def test_declaring_missing_values_names_the_column_and_the_value(missing, message) -> None:
    with pytest.raises(SchemaError, match=message):
        infer_schema(pl.DataFrame({"glucose": [0, 85]}), missing=missing)


# --- validation ---------------------------------------------------------------------------------------------

TRAIN = pl.DataFrame(
    {
        "id": list(range(20)),
        "age": [20 + i for i in range(20)],
        "plan": ["basic", "pro"] * 10,
        "active": [True, False] * 10,
        "joined": [f"2024-01-{d + 1:02d}" for d in range(20)],
        "churn": [0, 1] * 10,
    }
)
SCHEMA = infer_schema(TRAIN, target="churn")


def with_row(column: str, row: int, value) -> pl.DataFrame:
    values = TRAIN[column].to_list()
    values[row] = value
    return TRAIN.with_columns(pl.Series(column, values, strict=False))


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (with_row("age", 17, "abc"), ["age: expected numeric, found string 'abc' at row 17"]),
        (with_row("age", 3, None), ["age: expected a value (column is not nullable), found null at row 3"]),
        (with_row("age", 4, math.inf), ["age: expected a finite number, found inf at row 4"]),
        (with_row("age", 4, math.nan), ["age: expected a finite number, found nan at row 4"]),
        (with_row("plan", 5, "gold"), ["plan: expected a known category, found string 'gold' at row 5"]),
        (
            with_row("active", 6, "maybe"),
            ["active: expected boolean (true/t/yes or false/f/no), found string 'maybe' at row 6"],
        ),
        (
            with_row("joined", 7, "yesterday"),
            ["joined: expected datetime (%Y-%m-%d), found string 'yesterday' at row 7"],
        ),
        (TRAIN.drop("plan"), ["plan: expected a column, found no such column"]),
        (TRAIN.drop("churn"), ["churn: expected a column, found no such column"]),
        (TRAIN.drop("id"), []),
        (with_row("id", 2, None), ["id: expected a value (column is not nullable), found null at row 2"]),
        (TRAIN.with_columns(extra=pl.lit(1)), ["extra: expected no such column, found an extra column"]),
        (with_row("age", 0, 10_000), []),  # out of range is drift, not a violation
        (TRAIN.with_columns(pl.col("age").cast(pl.String)), []),  # numbers as text are numbers
    ],
)
def test_validation_messages(table: pl.DataFrame, expected: list[str]) -> None:
    assert [str(v) for v in SCHEMA.validate(table)] == expected


def test_validation_reports_every_violation_with_severity() -> None:
    table = with_row("age", 1, "x").pipe(lambda t: t.with_columns(plan=pl.Series(["gold"] * 20)))
    found = SCHEMA.validate(table)
    assert sorted((v.rule, v.severity) for v in found) == [("unknown_category", "warning")] * 20 + [
        ("wrong_type", "error")
    ]
    assert {v.row for v in found if v.rule == "unknown_category"} == set(range(20))


def test_only_the_rules_a_row_breaks_are_looked_at_row_by_row(monkeypatch) -> None:
    """One query finds which rules any row breaks; a clean table of 80 columns filters nothing (a filter per
    column and rule cost a served single row 40-70 ms)."""
    wide = pl.DataFrame({f"x{i}": [float(i), 2.0, None] for i in range(80)})
    schema = infer_schema(wide)
    filters = []
    original = pl.DataFrame.filter
    monkeypatch.setattr(
        pl.DataFrame, "filter", lambda self, *a, **k: filters.append(1) or original(self, *a, **k)
    )
    assert schema.validate(wide) == [] and filters == []
    bad = wide.with_columns(pl.Series("x7", ["1.0", "two", None])).with_columns(
        pl.col("x9").fill_null(math.inf)
    )
    assert [str(v) for v in schema.validate(bad)] == [
        "x7: expected numeric, found string 'two' at row 1",
        "x9: expected a finite number, found inf at row 2",
    ]
    assert len(filters) == 2


def test_training_table_is_valid_and_target_is_optional_when_asked() -> None:
    assert SCHEMA.validate(TRAIN) == []
    assert SCHEMA.validate(TRAIN.drop("churn"), require_target=False) == []
    assert SCHEMA.validate(TRAIN.to_pandas()) == []


def test_validate_records_applies_the_same_rules() -> None:
    good = {"age": 30, "plan": "pro", "active": True, "joined": "2024-02-01"}
    records = [
        good,
        {**good, "age": "abc"},
        {**good, "plan": "gold", "extra": 1},
        {k: v for k, v in good.items() if k != "plan"},
        {**good, "age": None, "active": "yes"},
        {**good, "age": 31.5, "joined": "2024-02-01T10:00:00"},
    ]
    assert SCHEMA.validate_records(records) == [
        Violation("plan", "missing_column", "a field", "no such field", row=3),
        Violation("extra", "extra_column", "no such column", "an extra column", severity="warning"),
        Violation("age", "wrong_type", "numeric", "string 'abc'", row=1),
        Violation("age", "null", "a value (column is not nullable)", "null", row=4),
        Violation("plan", "unknown_category", "a known category", "string 'gold'", row=2, severity="warning"),
        Violation("joined", "wrong_type", "datetime (%Y-%m-%d)", "string '2024-02-01T10:00:00'", row=5),
    ]
    assert SCHEMA.validate_records([good]) == []


def test_missing_fields_are_listed_record_by_record_in_the_schemas_column_order() -> None:
    found = SCHEMA.validate_records([{"joined": "2024-02-01"}, {"age": 30}])
    assert [(v.row, v.column) for v in found if v.rule == "missing_column"] == [
        (0, "age"),
        (0, "plan"),
        (0, "active"),
        (1, "plan"),
        (1, "active"),
        (1, "joined"),
    ]


def test_records_must_be_objects() -> None:
    with pytest.raises(SchemaError, match="expected a list of JSON objects"):
        SCHEMA.validate_records([1, 2])


@pytest.mark.parametrize(("trained", "served"), [("T", " "), (" ", "T")])
def test_a_datetime_stored_with_either_iso_separator_reads_as_the_same_instant(trained, served) -> None:
    """A table read back from a database writes '2024-03-01 09:30:00' where its CSV had '2024-03-01T09:30:00'."""
    stamps = [f"2024-03-{d:02d}{trained}09:30:00.250000" for d in range(1, 21)]
    schema = infer_schema(pl.DataFrame({"at": stamps}))
    assert schema["at"].kind == "datetime" and f"%d{trained}%H" in schema["at"].format
    other = pl.DataFrame({"at": [s.replace(trained, served) for s in stamps] + ["2024-03-21 soon"]})
    assert [str(v) for v in schema.validate(other)] == [
        f"at: expected datetime ({schema['at'].format}), found string '2024-03-21 soon' at row 20"
    ]
    read = typed_frame(schema, other)["at"]
    assert read[:20].to_list() == [dt.datetime(2024, 3, d, 9, 30, 0, 250000) for d in range(1, 21)]
