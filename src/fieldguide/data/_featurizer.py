"""The featurizer: a schema plus statistics fitted on training data, applied by one code path to tables and records."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from fieldguide.data._schema import ColumnSpec, Schema, as_frame, records_frame, typed_column, value_counts
from fieldguide.errors import ArtifactError, SchemaError

_FORMAT = "fieldguide.featurizer"
_DTYPES = {"float32": pl.Float32, "float64": pl.Float64}
# Numbers derived from each kind before imputation and scaling; datetimes add "hour" when training saw times.
_PARTS = {
    "numeric": ("value",),
    "boolean": ("value",),
    "datetime": ("year", "month", "weekday", "days"),
    "text": ("length", "words"),
}


class Featurizer:
    """Turns a table (or JSON records) into a numeric matrix, with statistics fitted on training data.

    Per feature column (identifier, ignored and target columns are dropped):

    - numeric: median imputation, then standard scaling (mean and standard deviation of the imputed training
      column, as scikit-learn's ``SimpleImputer`` + ``StandardScaler``); NaN and ±inf count as missing. A
      ``<name>__missing`` indicator column is added when the training column had missing values.
    - boolean: 0/1, missing imputed with the training median, indicator as for numeric; not scaled.
    - datetime: year, month, day of week (1 = Monday), hour (when training saw times of day), and days since the
      earliest training datetime, each imputed and scaled as numeric.
    - text: length in characters and number of words, imputed and scaled as numeric (tokens are not hashed).
    - categorical with at most ``max_onehot`` training categories: one-hot in sorted order plus
      ``<name>__other``, which is 1 for a category not seen in training (never an error); missing is all zeros.
    - categorical with more: the category's frequency in training (0 for unseen or missing).

    Tables and records take the same path: records become a DataFrame with the schema's dtypes, then the same
    expressions run. The fitted state is plain JSON (``to_json``/``from_json``).

    >>> import polars as pl
    >>> from fieldguide.data import infer_schema
    >>> train = pl.DataFrame({"age": [30.0, None, 50.0], "plan": ["a", "b", "a"], "churn": [0, 1, 0]})
    >>> featurizer = Featurizer(infer_schema(train, target="churn")).fit(train)
    >>> featurizer.feature_names_out
    ['age', 'age__missing', 'plan=a', 'plan=b', 'plan__other']
    >>> featurizer.transform_records([{"age": 50.0, "plan": "c"}]).tolist()
    [[1.224744871391589, 0.0, 0.0, 0.0, 1.0]]
    """

    def __init__(self, schema: Schema, *, max_onehot: int = 20, dtype: str = "float64") -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if max_onehot < 1:
            raise ValueError(f"max_onehot must be at least 1, got {max_onehot}")
        self.schema = schema
        self.max_onehot = max_onehot
        self.dtype = dtype
        self.columns_ = None

    @property
    def columns_(self) -> list[dict[str, Any]] | None:
        """The fitted state, one plain dict per feature column; ``None`` until fitted."""
        return self._columns

    @columns_.setter
    def columns_(self, state: list[dict[str, Any]] | None) -> None:
        # Building the expressions once keeps single-record transforms fast and checks a loaded state early.
        self._columns = state
        self._compiled = (
            None if state is None else [out for column in state for out in _column_outputs(column)]
        )
        self._final = [
            expr.cast(_DTYPES[self.dtype]).alias(f"f{i}") for i, (_, expr) in enumerate(self._compiled or [])
        ]

    # -- fitting ---------------------------------------------------------------------------------------------

    def fit(self, df: Any) -> Featurizer:
        """Learn imputation values, scales, categories and frequencies from training data; returns ``self``."""
        typed = self._typed(as_frame(df))
        if typed.height == 0:
            raise SchemaError("featurizer: cannot fit on an empty table")
        self.columns_ = [self._fit_column(spec, typed) for spec in self.schema.features]
        return self

    def _fit_column(self, spec: ColumnSpec, typed: pl.DataFrame) -> dict[str, Any]:
        state: dict[str, Any] = {"name": spec.name, "kind": spec.kind}
        values = typed.get_column(spec.name)
        if spec.kind == "categorical":
            counts = value_counts(values.drop_nulls())
            categories = sorted(counts.get_column("value").to_list())
            if len(categories) <= self.max_onehot:
                return {**state, "encoding": "onehot", "categories": categories}
            total = float(counts.get_column("count").sum())
            frequencies = {c: n / total for c, n in counts.iter_rows()}
            return {**state, "encoding": "frequency", "frequencies": dict(sorted(frequencies.items()))}
        parts = list(_PARTS[spec.kind])
        if spec.kind == "datetime":
            origin = values.min()
            state["origin"] = origin.isoformat() if origin is not None else "1970-01-01T00:00:00"
            if (values.dt.hour() != 0).any():
                parts.insert(3, "hour")
        derived = typed.select(
            [_finite(_part(spec.name, part, state.get("origin"))).alias(part) for part in parts]
        )
        state["parts"] = [
            self._fit_part(part, derived.get_column(part), scale=spec.kind != "boolean") for part in parts
        ]
        return state

    @staticmethod
    def _fit_part(part: str, values: pl.Series, *, scale: bool) -> dict[str, Any]:
        median = values.median()
        median = 0.0 if median is None else float(median)
        filled = values.fill_null(median)
        mean, std = (float(filled.mean()), float(filled.std(ddof=0))) if scale else (0.0, 1.0)
        if not np.isfinite(mean) or not np.isfinite(std) or std == 0.0:
            mean, std = (mean if np.isfinite(mean) else 0.0), 1.0
        return {
            "part": part,
            "median": median,
            "mean": mean,
            "scale": std,
            "indicator": values.null_count() > 0,
        }

    # -- transforming ----------------------------------------------------------------------------------------

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the output columns, in order."""
        return [name for name, _ in self._outputs()]

    def transform(self, df: Any) -> np.ndarray:
        """The feature matrix of a table (Polars, pandas, Arrow or dict of columns), shape (rows, features)."""
        return self._transform(as_frame(df))

    def transform_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The feature matrix of JSON records; row i equals ``transform`` of the same row in a table.

        Absent keys and unparseable values are missing (validate with ``Schema.validate_records`` first to
        refuse them instead).
        """
        return self._transform(records_frame(records, self.schema))

    def _transform(self, frame: pl.DataFrame) -> np.ndarray:
        self._outputs()  # refuses an unfitted featurizer
        typed = self._typed(frame)
        if not self._final:
            return np.zeros((typed.height, 0), dtype=self.dtype)
        return typed.select(self._final).to_numpy().astype(self.dtype, copy=False)

    def _typed(self, frame: pl.DataFrame) -> pl.DataFrame:
        features = self.schema.features
        missing = [c.name for c in features if c.name not in frame.columns]
        if missing:
            raise SchemaError(
                f"featurizer: missing feature column(s) {missing}; the table has {frame.columns}"
            )
        dtypes = frame.schema  # built anew on each access
        return frame.select([typed_column(c, dtypes[c.name]).alias(c.name) for c in features])

    def _outputs(self) -> list[tuple[str, pl.Expr]]:
        if self._compiled is None:
            raise SchemaError("featurizer: not fitted; call fit(training_table) first")
        return self._compiled

    # -- persistence -----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON-ready data."""
        self._outputs()  # refuses an unfitted featurizer
        return {
            "format": _FORMAT,
            "version": 1,
            "schema": self.schema.to_dict(),
            "max_onehot": self.max_onehot,
            "dtype": self.dtype,
            "columns": self.columns_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Featurizer:
        """Inverse of ``to_dict``; a malformed or tampered state raises ``ArtifactError``, never runs code."""
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT or data.get("version") != 1:
            raise ArtifactError(f"featurizer: expected {{'format': {_FORMAT!r}, 'version': 1, ...}}")
        try:
            featurizer = cls(
                Schema.from_dict(data["schema"]), max_onehot=data["max_onehot"], dtype=data["dtype"]
            )
            featurizer.columns_ = list(data["columns"])  # builds the expressions: every field must be valid
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ArtifactError(f"featurizer: malformed fitted state ({type(err).__name__}: {err})") from err
        return featurizer

    def to_json(self) -> str:
        """The fitted state as JSON text (no NaN or infinity, so any JSON reader accepts it)."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Featurizer:
        """Inverse of ``to_json``."""
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise ArtifactError(f"featurizer: not valid JSON ({err})") from err


def _column_outputs(state: Mapping[str, Any]) -> list[tuple[str, pl.Expr]]:
    name = state["name"]
    col = pl.col(name)
    if state["kind"] == "categorical":
        if state["encoding"] == "onehot":
            categories = [str(c) for c in state["categories"]]
            onehot = [(f"{name}={c}", (col == c).fill_null(False).cast(pl.Float64)) for c in categories]
            other = (col.is_not_null() & ~col.is_in(categories)).cast(pl.Float64)
            return [*onehot, (f"{name}__other", other)]
        frequencies = {str(k): float(v) for k, v in state["frequencies"].items()}
        return [(f"{name}__frequency", col.replace_strict(frequencies, default=0.0, return_dtype=pl.Float64))]
    outputs = []
    for part in state["parts"]:
        label = name if part["part"] == "value" else f"{name}__{part['part']}"
        value = _finite(_part(name, part["part"], state.get("origin")))
        # Multiply by the reciprocal: Polars divides a column of one row exactly but longer columns by
        # reciprocal, so division would make a single record differ from its table row in the last bit.
        scaled = (value.fill_null(float(part["median"])) - float(part["mean"])) * (1.0 / float(part["scale"]))
        outputs.append((label, scaled))
        if part["indicator"]:
            outputs.append((f"{label}__missing", value.is_null().cast(pl.Float64)))
    return outputs


def _part(name: str, part: str, origin: str | None) -> pl.Expr:
    col = pl.col(name)
    if part == "value":
        return col.cast(pl.Float64)
    if part in ("year", "month", "weekday", "hour"):
        return getattr(col.dt, part)().cast(pl.Float64)
    if part == "days":
        since = col - pl.lit(dt.datetime.fromisoformat(origin or "1970-01-01"), dtype=pl.Datetime("us"))
        return since.dt.total_microseconds().cast(pl.Float64) * (1.0 / 86_400e6)
    if part == "length":
        return col.str.len_chars().cast(pl.Float64)
    if part == "words":
        return col.str.count_matches(r"\S+").cast(pl.Float64)
    raise ValueError(f"unknown derived feature {part!r}")


def _finite(expr: pl.Expr) -> pl.Expr:
    """NaN and ±inf become missing, so they are imputed rather than propagated."""
    return pl.when(expr.is_finite()).then(expr).otherwise(None)
