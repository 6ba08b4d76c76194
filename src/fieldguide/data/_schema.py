"""The schema of a table: one ColumnSpec per column, inferred from data, editable as JSON, used to validate."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import polars as pl

from fieldguide.data._read import MISSING_TOKENS, plain_types
from fieldguide.errors import DataError, SchemaError

Kind = Literal["numeric", "categorical", "boolean", "datetime", "text", "identifier"]
Role = Literal["feature", "target", "identifier", "ignored"]
Severity = Literal["error", "warning"]
KINDS: tuple[str, ...] = ("numeric", "categorical", "boolean", "datetime", "text", "identifier")
ROLES: tuple[str, ...] = ("feature", "target", "identifier", "ignored")

# Inference thresholds (documented in ``infer_schema``).
MAX_STORED_CATEGORIES = 1000
MAX_TARGET_CLASSES = 10
MIN_ROWS_FOR_UNNAMED_ID = 20
TEXT_MIN_MEAN_LENGTH = 30
TEXT_MIN_MEAN_WORDS = 4
DISTINCT_RATIO = 4  # string columns with at most a quarter as many distinct values as rows are counted

TRUE_TOKENS = ("true", "t", "yes", "y", "1")
FALSE_TOKENS = ("false", "f", "no", "n", "0")
DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y/%m/%d",
)
_ID_NAME = re.compile(
    r"(^|[_\s.-])(id|uuid|guid|key)$|^(id|uuid|guid|key)([_\s.-]|$)|[a-z](Id|ID|Key|Uuid)$", re.I
)


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """One column of a schema.

    kind: what the values are (numeric, categorical, boolean, datetime, text, identifier).
    role: what the column is for (feature, target, identifier, ignored); only features are featurized.
    nullable: whether nulls (or one of ``missing_values``) are allowed.
    dtype: the Polars dtype the column was read with (``"String"`` for numbers stored as text).
    categories: the known categories of a categorical column; others are reported as unknown (a warning).
        ``None`` means not checked (too many to store, or left out on purpose).
    min, max: the range seen when inferring (numbers; ISO strings for datetimes). Out of range is drift, not a
        violation, so these are never enforced.
    missing_values: raw values that mean missing in this column, read as null: strings (``"NA"``, ``"?"``), or
        numbers written as text (``"0"``, ``"-1"``) in a column read as numbers.
    format: the strptime format of a datetime stored as text; ``None`` tries the ISO formats in order.
    """

    name: str
    kind: Kind
    role: Role = "feature"
    nullable: bool = True
    dtype: str = "String"
    categories: tuple[str, ...] | None = None
    min: float | str | None = None
    max: float | str | None = None
    missing_values: tuple[str, ...] = ()
    format: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SchemaError(
                f"column {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        if self.role not in ROLES:
            raise SchemaError(
                f"column {self.name!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}"
            )
        if self.categories is not None:
            object.__setattr__(self, "categories", tuple(str(c) for c in self.categories))
        object.__setattr__(self, "missing_values", tuple(self.missing_values))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples as lists)."""
        out = dataclasses.asdict(self)
        for key in ("categories", "missing_values"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        """Inverse of ``to_dict``; unknown fields are refused by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        name = data.get("name", "?")
        if unknown:
            raise SchemaError(
                f"column {name!r}: unknown field(s) {unknown}; expected some of {sorted(known)}"
            )
        if "name" not in data or "kind" not in data:
            raise SchemaError(f"column {name!r}: every column needs 'name' and 'kind', got {sorted(data)}")
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class Violation:
    """One way a table or a record breaks a schema.

    rule: ``missing_column``, ``extra_column``, ``wrong_type``, ``non_finite``, ``null`` or
        ``unknown_category``.
    row: 0-based row of the table (or index of the record); ``None`` for column-level violations.
    severity: ``error`` (cannot be featurized as the schema says) or ``warning`` (an extra column, an unknown
        category: the featurizer copes, a strict server may refuse).
    """

    column: str
    rule: str
    expected: str
    found: str
    row: int | None = None
    severity: Severity = "error"

    @property
    def message(self) -> str:
        where = "" if self.row is None else f" at row {self.row}"
        return f"{self.column}: expected {self.expected}, found {self.found}{where}"

    def __str__(self) -> str:
        return self.message


@dataclasses.dataclass(frozen=True)
class Schema:
    """The columns of a table, in order; at most one has role ``target``.

    >>> import polars as pl
    >>> schema = infer_schema(pl.DataFrame({"age": [31, 45, 28], "city": ["Oslo", "Rome", "Oslo"]}))
    >>> schema["age"].kind, schema["city"].kind
    ('numeric', 'categorical')
    >>> Schema.from_json(schema.to_json()) == schema
    True
    >>> [str(v) for v in schema.validate(pl.DataFrame({"age": ["abc"], "city": ["Oslo"]}))]
    ["age: expected numeric, found string 'abc' at row 0"]
    """

    columns: tuple[ColumnSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        names = [c.name for c in self.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaError(f"schema: column names must be unique, found duplicates {duplicated}")
        targets = [c.name for c in self.columns if c.role == "target"]
        if len(targets) > 1:
            raise SchemaError(f"schema: at most one column may have role 'target', found {targets}")

    def __getitem__(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(f"schema has no column {name!r}; columns are {self.names}")

    def __contains__(self, name: object) -> bool:
        return any(spec.name == name for spec in self.columns)

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [c.name for c in self.columns]

    @property
    def target(self) -> str | None:
        """Name of the target column, or ``None``."""
        return next((c.name for c in self.columns if c.role == "target"), None)

    @property
    def features(self) -> list[ColumnSpec]:
        """The columns with role ``feature``, in order."""
        return [c for c in self.columns if c.role == "feature"]

    def replace(self, name: str, **changes: Any) -> Schema:
        """A copy with one column's fields changed, e.g. ``schema.replace("zip", kind="categorical")``."""
        self[name]  # raises a KeyError naming the columns when absent
        return Schema(tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in self.columns))

    def ignoring(self, names: Iterable[str]) -> Schema:
        """A copy in which ``names`` have role ``ignored``: never featurized, validated or required (a leak, an
        identifier inference took for a feature, a column known only after the target).

        >>> import polars as pl
        >>> schema = infer_schema(pl.DataFrame({"n": [1, 2], "price": [3.0, 4.0]})).ignoring(["n"])
        >>> [(c.name, c.role) for c in schema]
        [('n', 'ignored'), ('price', 'feature')]
        """
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in self:
                raise SchemaError(f"ignore: {name!r} is not a column; columns are {', '.join(self.names)}")
            if name == self.target:
                raise SchemaError(f"ignore: {name!r} is the target; a target cannot be ignored")
        return Schema(
            tuple(dataclasses.replace(c, role="ignored") if c.name in names else c for c in self.columns)
        )

    def with_missing(self, values: Mapping[str, Any]) -> Schema:
        """A copy in which each named column also reads these raw values as missing (and so becomes nullable):
        ``{"glucose": [0], "job": ["unknown"]}``. A column read as numbers takes numbers only.

        >>> import polars as pl
        >>> table = pl.DataFrame({"glucose": [0, 85, 120]})
        >>> schema = infer_schema(table).with_missing({"glucose": [0]})
        >>> schema["glucose"].missing_values, typed_frame(schema, table)["glucose"].to_list()
        (('0',), [None, 85.0, 120.0])
        """
        changed = {}
        for name, spelled in values.items():
            if name not in self:
                raise SchemaError(f"missing: {name!r} is not a column; columns are {', '.join(self.names)}")
            spec = self[name]
            texts = [str(v) for v in ([spelled] if isinstance(spelled, str | int | float) else spelled)]
            if _read_as_numbers(spec):
                wrong = [t for t in texts if parse_number(t) is None]
                if wrong:
                    raise SchemaError(
                        f"missing: {name!r} holds numbers ({spec.dtype}); {wrong[0]!r} is not one"
                    )
            merged = tuple(sorted({*spec.missing_values, *texts}))
            changed[name] = dataclasses.replace(spec, missing_values=merged, nullable=True)
        return Schema(tuple(changed.get(c.name, c) for c in self.columns))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ``{"version": 1, "columns": [...]}``."""
        return {"version": 1, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Inverse of ``to_dict``; anything malformed raises ``SchemaError`` naming the column and field."""
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), list):
            raise SchemaError("schema: expected an object with a 'columns' list")
        if data.get("version", 1) != 1:
            raise SchemaError(f"schema: unsupported version {data.get('version')!r}, expected 1")
        return cls(tuple(ColumnSpec.from_dict(c) for c in data["columns"]))

    def to_json(self) -> str:
        """Indented JSON a person can edit (change a kind or a role) and load back with ``from_json``."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Schema:
        """Inverse of ``to_json``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SchemaError(f"schema: not valid JSON ({err})") from err
        return cls.from_dict(data)

    def validate(self, df: Any, *, require_target: bool = True) -> list[Violation]:
        """Every violation of this schema in a table (Polars, pandas, Arrow or a dict of columns).

        Missing feature columns (and the target, unless ``require_target=False``) are errors; extra columns and
        unknown categories are warnings; values out of the inferred range are not violations (that is drift);
        values of ``ignored`` columns are not checked. A datetime column with a ``format`` accepts only that
        format (set it to ``null`` in the JSON to accept any ISO 8601 form).
        """
        frame = as_frame(df)
        required = {
            c.name for c in self.columns if c.role == "feature" or (require_target and c.role == "target")
        }
        found = [
            Violation(name, "missing_column", "a column", "no such column")
            for name in self.names
            if name in required and name not in frame.columns
        ]
        return found + _value_violations(self, frame)

    def validate_records(self, records: Sequence[Mapping[str, Any]]) -> list[Violation]:
        """The same rules as ``validate`` for JSON records at serving time (the target is not required).

        A record without a feature's key is a ``missing_column`` error at that record's index.
        """
        frame = records_frame(records, self)
        features = [c.name for c in self.features]
        found = [
            Violation(name, "missing_column", "a field", "no such field", row=i)
            for i, record in enumerate(records)
            for name in features
            if name not in record
        ]  # record by record, each in the schema's column order
        absent = {(v.column, v.row) for v in found}
        return found + [v for v in _value_violations(self, frame) if (v.column, v.row) not in absent]


def as_frame(data: Any) -> pl.DataFrame:
    """A Polars DataFrame from Polars, pandas, Arrow or a dict of columns, in types the schema knows
    (:func:`plain_types`)."""
    if isinstance(data, pl.DataFrame):
        return plain_types(data)
    if type(data).__module__.startswith("pandas"):
        return plain_types(pl.from_pandas(data))
    try:
        return plain_types(pl.DataFrame(data))
    except Exception as err:
        raise SchemaError(
            f"expected a table (Polars, pandas, Arrow or dict of columns), got {type(data).__name__}"
        ) from err


def value_counts(series: pl.Series, *, sort: bool = False) -> pl.DataFrame:
    """Each distinct value of ``series`` (nulls included) and its number of rows, in columns ``value`` and
    ``count`` whatever the column is called (Polars' own ``value_counts`` fails on a column named ``count``), in
    the order of their first row; with ``sort``, commonest first (ties in that order).

    >>> value_counts(pl.Series("count", ["a", "b", "a"]), sort=True).rows()
    [('a', 2), ('b', 1)]
    """
    counts = (
        series.rename("value").to_frame().group_by("value", maintain_order=True).agg(pl.len().alias("count"))
    )
    return counts.sort("count", descending=True, maintain_order=True) if sort else counts


def records_frame(records: Sequence[Mapping[str, Any]], schema: Schema) -> pl.DataFrame:
    """JSON records as a DataFrame with the schema's dtypes, so records and tables share one code path.

    A value that does not fit the column's dtype (``"abc"`` for an Int64 column) keeps the whole column as text;
    ``typed_column`` then reports or nulls it exactly as it would in a table. Features are always present (null
    where a record lacks the key); other schema columns only when some record has them; keys not in the schema
    are kept (so validation can report them).
    """
    if isinstance(records, Mapping) or not all(isinstance(r, Mapping) for r in records):
        raise SchemaError("records: expected a list of JSON objects (dicts)")
    keys = {key for r in records for key in r}
    features = {c.name for c in schema.features}
    names = [name for name in schema.names if name in features or name in keys]
    extra = sorted(keys - set(schema.names))
    series = [
        _record_series(name, [r.get(name) for r in records], _dtype(schema[name].dtype)) for name in names
    ]
    series += [_record_series(name, [r.get(name) for r in records], None) for name in extra]
    return pl.DataFrame(series, height=len(records))


def _record_series(name: str, values: list[Any], dtype: pl.DataType | None) -> pl.Series:
    if dtype is not None:
        try:
            return pl.Series(name, values, dtype=dtype, strict=True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    return pl.Series(name, [_as_text(v) for v in values], dtype=pl.String)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _dtype(name: str) -> pl.DataType | None:
    base = name.split("(", 1)[0]
    if base == "Datetime":
        return pl.Datetime("us")
    dtype = getattr(pl, base, None)
    return dtype() if isinstance(dtype, type) and issubclass(dtype, pl.DataType) else None


# ---------------------------------------------------------------------------------------------------------------
# Typing: raw column (any dtype) -> the column's canonical type for its kind. Shared by validation, inference and
# the featurizer, for tables and records alike.


def labelled_rows(frame: pl.DataFrame, schema: Schema, target: str) -> pl.DataFrame:
    """The rows of ``frame`` whose ``target`` has a value as ``schema`` reads it (a spelling of missing, or a
    value declared missing, is none): what a model can learn from. ``DataError`` when no row has one.

    >>> table = pl.DataFrame({"x": [1, 2, 3], "y": ["a", "NA", "b"]})
    >>> labelled_rows(table, infer_schema(table, "y"), "y")["x"].to_list()
    [1, 3]
    """
    typed = frame.select(typed_column(schema[target], frame.schema[target])).to_series()
    labelled = frame.filter(typed.is_not_null())
    if labelled.height == 0:
        raise DataError(f"target {target!r}: every value is missing")
    return labelled


def typed_column(spec: ColumnSpec, dtype: pl.DataType) -> pl.Expr:
    """Expression turning the raw column into its kind's type; values that do not fit become null.

    numeric -> Float64; boolean -> Boolean; datetime -> Datetime("us") (naive UTC); others -> String.
    """
    col = pl.col(spec.name)
    declared = declared_missing(col, spec, dtype)
    if declared is not None:
        col = pl.when(declared).then(None).otherwise(col)
    if spec.kind == "numeric":
        if dtype == pl.String:
            return col.str.strip_chars().cast(pl.Float64, strict=False)
        return (
            col.cast(pl.Float64, strict=False)
            if dtype.is_numeric() or dtype == pl.Boolean
            else _nulls(pl.Float64)
        )
    if spec.kind == "boolean":
        return _boolean(col, dtype)
    if spec.kind == "datetime":
        return _datetime(col, dtype, spec.format)
    if dtype.is_nested():
        return _nulls(pl.String)
    return col.cast(pl.String, strict=False)


def declared_missing(col: pl.Expr, spec: ColumnSpec, dtype: pl.DataType) -> pl.Expr | None:
    """Mask of the raw values ``spec.missing_values`` names: as text, or as numbers in a column of numbers."""
    if not spec.missing_values:
        return None
    if dtype == pl.String:
        return col.is_in(list(spec.missing_values))
    numbers = [n for n in map(parse_number, spec.missing_values) if n is not None]
    return col.cast(pl.Float64).is_in(numbers) if dtype.is_numeric() and numbers else None


def parse_number(text: str) -> float | None:
    """``text`` as a float, or None when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def _read_as_numbers(spec: ColumnSpec) -> bool:
    """Whether the column was read as numbers (its Polars dtype), not as text."""
    return spec.dtype.startswith(("Int", "UInt", "Float", "Decimal"))


def _nulls(dtype: pl.DataType) -> pl.Expr:
    return pl.lit(None, dtype=dtype)


def _boolean(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return col
    if dtype.is_numeric():
        return pl.when(col == 1).then(True).when(col == 0).then(False).otherwise(None)
    if dtype == pl.String:
        mapping = {**dict.fromkeys(TRUE_TOKENS, True), **dict.fromkeys(FALSE_TOKENS, False)}
        return (
            col.str.strip_chars()
            .str.to_lowercase()
            .replace_strict(mapping, default=None, return_dtype=pl.Boolean)
        )
    return _nulls(pl.Boolean)


def _datetime(col: pl.Expr, dtype: pl.DataType, fmt: str | None) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    if dtype == pl.String:
        text = col.str.strip_chars()
        formats = _either_separator(fmt) if fmt else DATETIME_FORMATS
        return pl.coalesce([text.str.strptime(pl.Datetime("us"), f, strict=False) for f in formats])
    return _nulls(pl.Datetime("us"))


def _either_separator(fmt: str) -> tuple[str, ...]:
    """``fmt`` and, when it separates date and time by ISO 8601's ``T`` or by a space, the same format with the
    other: a table read back from a database (``2024-03-01 09:30:00``) has a space where its CSV had a ``T``.

    >>> _either_separator("%Y-%m-%dT%H:%M:%S%.f"), _either_separator("%Y/%m/%d")
    (('%Y-%m-%dT%H:%M:%S%.f', '%Y-%m-%d %H:%M:%S%.f'), ('%Y/%m/%d',))
    """
    for separator, other in (("%dT%H", "%d %H"), ("%d %H", "%dT%H")):
        if separator in fmt:
            return fmt, fmt.replace(separator, other)
    return (fmt,)


def typed_frame(schema: Schema, df: pl.DataFrame) -> pl.DataFrame:
    """The schema's columns present in ``df``, each in its kind's type."""
    dtypes = df.schema  # built anew on each access
    return df.select(
        [typed_column(c, dtypes[c.name]).alias(c.name) for c in schema.columns if c.name in dtypes]
    )


def _value_violations(schema: Schema, frame: pl.DataFrame) -> list[Violation]:
    found = [
        Violation(name, "extra_column", "no such column", "an extra column", severity="warning")
        for name in frame.columns
        if name not in schema
    ]
    dtypes = frame.schema
    specs = [c for c in schema.columns if c.name in dtypes and c.role != "ignored"]
    if not specs or frame.height == 0:
        return found
    checks = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("__row__"),
        *[pl.col(c.name).alias(f"raw:{c.name}") for c in specs],
        *[typed_column(c, dtypes[c.name]).alias(f"typed:{c.name}") for c in specs],
    )
    rules = [(spec, *rule) for spec in specs for rule in _column_rules(spec, dtypes[spec.name])]
    # one query says which rules any row breaks (each filtered on its own cost ~0.2 ms: 40-70 ms a call on a table
    # of 80 columns, a served single row included); only those are looked at row by row
    broken = checks.select(mask.any().alias(str(i)) for i, (_, _, mask, _, _) in enumerate(rules)).row(0)
    for (spec, rule, mask, expected, severity), any_row in zip(rules, broken, strict=True):
        if not any_row:
            continue
        raw, typed = pl.col(f"raw:{spec.name}"), pl.col(f"typed:{spec.name}")
        bad = checks.filter(mask).select("__row__", raw.alias("raw"), typed.alias("typed"))
        for row, value, typed_value in bad.iter_rows():
            shown = "null" if rule == "null" else _describe(typed_value if rule == "non_finite" else value)
            found.append(Violation(spec.name, rule, expected, shown, row=row, severity=severity))
    return found


def _column_rules(spec: ColumnSpec, dtype: pl.DataType) -> list[tuple[str, pl.Expr, str, Severity]]:
    """(rule, mask of the rows that break it, what was expected, severity) for one column's checks."""
    raw, typed = pl.col(f"raw:{spec.name}"), pl.col(f"typed:{spec.name}")
    missing = raw.is_null()
    if (declared := declared_missing(raw, spec, dtype)) is not None:
        missing = missing | declared
    rules: list[tuple[str, pl.Expr, str, Severity]] = [
        ("wrong_type", ~missing & typed.is_null(), _expected(spec), "error")
    ]
    if spec.kind == "numeric":
        rules.append(("non_finite", typed.is_not_null() & ~typed.is_finite(), "a finite number", "error"))
    if not spec.nullable:
        rules.append(("null", missing, "a value (column is not nullable)", "error"))
    if spec.kind == "categorical" and spec.categories is not None:
        rules.append(
            (
                "unknown_category",
                typed.is_not_null() & ~typed.is_in(list(spec.categories)),
                "a known category",
                "warning",
            )
        )
    return rules


def _expected(spec: ColumnSpec) -> str:
    if spec.kind == "boolean":
        return f"boolean ({'/'.join(TRUE_TOKENS[:3])} or {'/'.join(FALSE_TOKENS[:3])})"
    if spec.kind == "datetime":
        return f"datetime ({spec.format or 'ISO 8601'})"
    return spec.kind


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------------------------------------------
# Inference


def infer_schema(
    df: Any,
    target: str | None = None,
    *,
    ignore: Iterable[str] = (),
    missing: Mapping[str, Any] | None = None,
) -> Schema:
    """Infer a schema a person would agree with from a table; the columns in ``ignore`` get role ``ignored``
    (see ``Schema.ignoring``), and ``missing`` names the raw values that mean missing per column (see
    ``Schema.with_missing``).

    Rules, in order, per column (strings are first stripped of the spellings of missing in ``MISSING_TOKENS``,
    which are kept in ``missing_values``):

    - Booleans; integers whose values are exactly {0, 1}; strings that are all true/false, yes/no, y/n, t/f
      -> boolean (for the target: binary classification).
    - Strings that all parse as numbers (and have no leading zeros such as ``"007"``) are treated as numbers.
    - Integers that are unique with an id-like name (``id``, ``customer_id``, ``userId``, ``key``, ``uuid``)
      -> identifier; repeated integers with an id-like name (``store_id``) are codes -> categorical. Other
      integers stay numeric, however few their values (order carries information); only an
      integer *target* with at most 10 distinct values is categorical (class labels).
    - Dates, datetimes, and strings that all parse with one ISO 8601 format -> datetime.
    - Strings that are unique and have an id-like name, or are unique and short in a table of at least 20 rows
      -> identifier.
    - Strings with a mean length of at least 30 characters or 4 words, mostly distinct -> text.
    - Other strings -> categorical (categories stored when there are at most 1000).
    - Nested types (lists, structs) -> text with role ``ignored``; columns that are entirely null -> ignored.

    >>> import polars as pl
    >>> df = pl.DataFrame({"customer_id": [1, 2, 3], "age": ["31", "NA", "28"], "churn": [0, 1, 0]})
    >>> [(c.name, c.kind, c.role) for c in infer_schema(df, target="churn")]
    [('customer_id', 'identifier', 'identifier'), ('age', 'numeric', 'feature'), ('churn', 'boolean', 'target')]
    """
    return infer_counted(as_frame(df), target, {}, ignore, missing)


def infer_counted(
    frame: pl.DataFrame,
    target: str | None,
    counted: Mapping[str, pl.DataFrame],
    ignore: Iterable[str] = (),
    missing: Mapping[str, Any] | None = None,
) -> Schema:
    """``infer_schema`` for a caller that has already counted some string columns (``value_counts``, by name),
    as ``fieldguide check`` has: those are inferred from their counts without counting them again."""
    if target is not None and target not in frame.columns:
        raise SchemaError(f"target {target!r} is not a column; columns are {frame.columns}")
    if missing:  # inferred without them: a glucose of 0 is neither its minimum nor a category
        frame = _without_declared(frame, missing)
        counted = {n: c for n, c in counted.items() if n not in missing}
    schema = Schema(
        tuple(_infer_column(frame.get_column(n), n == target, counted.get(n)) for n in frame.columns)
    )
    return schema.with_missing(missing or {}).ignoring(ignore)


def _without_declared(frame: pl.DataFrame, missing: Mapping[str, Any]) -> pl.DataFrame:
    """``frame`` with the raw values ``missing`` declares (checked as ``Schema.with_missing`` checks them) as null."""
    raw = Schema(tuple(ColumnSpec(n, "text", dtype=str(d)) for n, d in frame.schema.items())).with_missing(
        missing
    )
    masks = {n: declared_missing(pl.col(n), raw[n], frame.schema[n]) for n in missing}
    return frame.with_columns(
        pl.when(mask).then(None).otherwise(pl.col(n)).alias(n)
        for n, mask in masks.items()
        if mask is not None
    )


def _infer_column(series: pl.Series, is_target: bool, counted: pl.DataFrame | None = None) -> ColumnSpec:
    dtype = series.dtype
    counts, missing = None, ()
    if dtype == pl.String:
        series, counts = _distinct(series, counted)
        stripped = series.str.strip_chars().str.to_lowercase()
        missing = tuple(sorted(series.filter(stripped.is_in(list(MISSING_TOKENS))).unique().to_list()))
    base = ColumnSpec(series.name, "text", dtype=str(dtype), missing_values=missing)
    kind, fmt = _infer_kind(series, counts, base, is_target)
    spec = dataclasses.replace(base, kind=kind, format=fmt)
    typed = _typed_series(spec, series)
    nulls = _rows(typed.is_null(), counts)
    n_rows = series.len() if counts is None else int(counts.sum())
    role: Role = "target" if is_target else "identifier" if kind == "identifier" else "feature"
    if (nulls == n_rows and not is_target) or dtype.is_nested():
        role = "ignored"
    return dataclasses.replace(
        spec, role=role, nullable=nulls > 0 or _rows(series.is_null(), counts) > 0, **_stats(kind, typed)
    )


def _distinct(series: pl.Series, counted: pl.DataFrame | None) -> tuple[pl.Series, pl.Series | None]:
    """A string column as its distinct values and their counts when values repeat (most do), else as is;
    ``counted``: its ``value_counts`` when the caller has them already.

    Inference then parses and measures each distinct value once: a 1M-row column of a dozen categories costs
    what a dozen strings cost. The answers are the same either way (counts weigh every row-level figure).
    """
    if counted is None:
        if series.n_unique() * DISTINCT_RATIO > series.len():
            return series, None
        counted = value_counts(series)
    return counted.get_column("value").rename(series.name), counted.get_column("count")


def _rows(mask: pl.Series, counts: pl.Series | None) -> int:
    """How many rows of the column ``mask`` selects (``counts``: rows per value, when values are distinct)."""
    return int(mask.sum()) if counts is None else int(counts.filter(mask).sum())


def _mean(values: pl.Series, counts: pl.Series | None) -> float:
    """The row-level mean of per-value figures."""
    if counts is None:
        return float(values.mean() or 0.0)
    return float((values * counts).sum() / counts.sum())


def _infer_kind(
    series: pl.Series, counts: pl.Series | None, base: ColumnSpec, is_target: bool
) -> tuple[Kind, str | None]:
    dtype = series.dtype
    if dtype.is_nested():
        return "text", None
    if dtype == pl.Boolean:
        return "boolean", None
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "datetime", None
    if dtype.is_numeric():
        return _numeric_kind(series, is_target), None
    present = _typed_series(base, series).is_not_null()
    values = series.filter(present)
    counts = None if counts is None else counts.filter(present)
    n_rows = values.len() if counts is None else int(counts.sum())
    if n_rows == 0:
        return "categorical", None
    lowered = values.str.strip_chars().str.to_lowercase()
    if lowered.is_in(list(TRUE_TOKENS + FALSE_TOKENS)).all() and lowered.n_unique() == 2:
        return "boolean", None
    numbers = values.str.strip_chars().cast(pl.Float64, strict=False)
    if numbers.null_count() == 0 and not values.str.strip_chars().str.contains(r"^-?0\d").any():
        integral = numbers.is_finite().all() and (numbers == numbers.round(0)).all()
        return _numeric_kind(numbers.cast(pl.Int64) if integral else numbers, is_target, n_rows), None
    stripped = values.str.strip_chars()
    for fmt in DATETIME_FORMATS:  # a sample first: most string columns are not dates, and rejecting is cheap
        if all(
            part.str.strptime(pl.Datetime("us"), fmt, strict=False).null_count() == 0
            for part in (stripped.head(100), stripped)
        ):
            return "datetime", fmt
    if not is_target:
        n_distinct = values.n_unique()
        wordy = (
            _mean(values.str.len_chars(), counts) >= TEXT_MIN_MEAN_LENGTH
            or _mean(values.str.count_matches(r"\S+"), counts) >= TEXT_MIN_MEAN_WORDS
        )
        if n_distinct == n_rows and (
            _ID_NAME.search(series.name) or (n_rows >= MIN_ROWS_FOR_UNNAMED_ID and not wordy)
        ):
            return "identifier", None
        if wordy and n_distinct > n_rows // 2:
            return "text", None
    return "categorical", None


def _typed_series(spec: ColumnSpec, series: pl.Series) -> pl.Series:
    return series.to_frame().select(typed_column(spec, series.dtype)).to_series()


def _numeric_kind(series: pl.Series, is_target: bool, n_rows: int | None = None) -> Kind:
    """The kind of a numeric column; ``n_rows``: its non-null rows when ``series`` holds distinct values only."""
    values = series.drop_nulls()
    if series.dtype.is_integer():
        distinct = values.unique()
        if distinct.len() == 2 and set(distinct.to_list()) == {0, 1}:
            return "boolean"
        if not is_target and _ID_NAME.search(series.name):
            return "identifier" if distinct.len() == (n_rows or values.len()) else "categorical"
        if is_target and distinct.len() <= MAX_TARGET_CLASSES:
            return "categorical"
    return "numeric"


def _stats(kind: str, typed: pl.Series) -> dict[str, Any]:
    values = typed.drop_nulls()
    if kind == "numeric":
        values = values.filter(values.is_finite())
        if values.len():
            return {"min": float(values.min()), "max": float(values.max())}
    if kind == "datetime" and values.len():
        return {"min": values.min().isoformat(), "max": values.max().isoformat()}
    if kind == "categorical":
        distinct = values.unique()
        if distinct.len() <= MAX_STORED_CATEGORIES:
            return {"categories": tuple(sorted(distinct.to_list()))}
    return {}
