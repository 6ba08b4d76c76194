"""Tables in, arrays out: readers, schemas, the featurizer shared by training and serving, and splits.

- ``read``: CSV (delimiter and encoding detected), Parquet, JSON lines, gzip, SQLAlchemy URLs, DuckDB SQL;
  ``Query(url, sql)`` names a SQL source wherever a path is taken, shown without the URL's password.
  Missing-value spellings ("NA", "?") are kept as written unless ``null_values=`` says otherwise.
- ``infer_schema`` -> ``Schema`` of ``ColumnSpec``: kinds, roles, JSON round trip, ``validate`` and
  ``validate_records`` returning ``Violation``s.
- ``Featurizer``: fitted on training data, plain-JSON state, one code path for tables and JSON records.
- ``splits``: stratified, grouped and time-ordered folds, stratified sampling. ``synthetic``: seeded tables.
- ``as_frame``, ``typed_column``, ``typed_frame``, ``records_frame``, ``value_counts``, ``labelled_rows``: the
  building blocks other capabilities share (any table to Polars; a raw column to its kind's type; JSON records to
  a typed frame; distinct values with their counts, whatever the column is called; the rows whose target has a
  value).

>>> from fieldguide.data import Featurizer, infer_schema, synthetic
>>> df = synthetic.customers(100)
>>> featurizer = Featurizer(infer_schema(df, target="churn")).fit(df)
>>> featurizer.transform(df).shape == (100, len(featurizer.feature_names_out))
True
"""

from fieldguide.data import splits, synthetic
from fieldguide.data._featurizer import Featurizer
from fieldguide.data._read import MISSING_TOKENS, DataWarning, Query, read
from fieldguide.data._schema import (
    ColumnSpec,
    Schema,
    Violation,
    as_frame,
    infer_schema,
    labelled_rows,
    records_frame,
    typed_column,
    typed_frame,
    value_counts,
)

__all__ = [
    "MISSING_TOKENS",
    "ColumnSpec",
    "DataWarning",
    "Featurizer",
    "Query",
    "Schema",
    "Violation",
    "as_frame",
    "infer_schema",
    "labelled_rows",
    "read",
    "records_frame",
    "splits",
    "synthetic",
    "typed_column",
    "typed_frame",
    "value_counts",
]
