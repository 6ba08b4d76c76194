"""Turn the tables and arrays users hand us (NumPy, pandas, Polars, PyArrow, lists) into NumPy arrays.

scikit-learn's ``validate_data`` already reads NumPy, lists, pandas, Polars and PyArrow tables (through narwhals)
and records ``feature_names_in_`` when the columns have string names. This module only brings the remaining
containers into that set: a PyArrow ``RecordBatch`` becomes a ``Table``, a PyArrow ``Array``/``ChunkedArray``
becomes a NumPy array, and any other producer of the Arrow PyCapsule stream interface (``__arrow_c_stream__``,
e.g. a DuckDB relation) becomes a PyArrow ``Table``. PyArrow is imported only when the input is one of these.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def tabular(X: Any) -> Any:
    """Return ``X`` in a form scikit-learn's ``check_array`` and feature-name handling understand.

    >>> import pyarrow as pa
    >>> tabular(pa.record_batch({"a": [1.0, 2.0]})).column_names
    ['a']
    """
    module = _module(X)
    if module in ("numpy", "pandas", "polars") or isinstance(X, list | tuple):
        return X
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(X, pa.RecordBatch):
            return pa.Table.from_batches([X])
        if isinstance(X, pa.Array | pa.ChunkedArray):
            return X.to_numpy(zero_copy_only=False)
        return X
    if hasattr(X, "__arrow_c_stream__") and not hasattr(X, "__array__"):
        import pyarrow as pa

        return pa.table(X)
    return X


def target(y: Any) -> Any:
    """Return the target ``y`` as something ``np.asarray`` turns into a 1-D array (Arrow columns included).

    >>> target([0, 1, 1]).tolist()
    [0, 1, 1]
    """
    y = tabular(y)
    if _module(y) == "pyarrow":  # a one-column Table
        if y.num_columns != 1:
            raise ValueError(f"y must be one column; found a table with {y.num_columns} columns")
        y = y.column(0).to_numpy(zero_copy_only=False)
    return np.asarray(y) if isinstance(y, list | tuple) else y


def _columns(X: Any):
    """``(name, values)`` for each column of a table or 2-D array (names are positions where X has none)."""
    if hasattr(X, "column_names") and hasattr(X, "column"):  # PyArrow
        for name in X.column_names:
            yield name, X.column(name).to_numpy(zero_copy_only=False)
    elif hasattr(X, "columns") and hasattr(X, "__getitem__") and _module(X) in ("pandas", "polars"):
        for name in X.columns:
            yield name, np.asarray(X[name], dtype=object)
    else:
        array = np.asarray(X, dtype=object)
        for j in range(array.shape[1] if array.ndim == 2 else 0):
            yield j, array[:, j]


def numeric(X: Any, owner: str, validate):
    """``validate(tabular(X))`` (scikit-learn's ``validate_data``), with a column that holds text (or categories,
    dates) named: scikit-learn's check says only "could not convert string to float", and lets Polars and Arrow
    text through as objects. ``owner`` names the estimator in the error."""
    X = tabular(X)
    try:
        checked = validate(X)
    except ValueError as err:
        error = text_column_error(X, owner)
        if error is None:
            raise
        raise error from err
    array = checked[0] if isinstance(checked, tuple) else checked
    if array.dtype.kind not in "biuf" and (error := text_column_error(X, owner)) is not None:
        raise error
    return checked


def text_column_error(X: Any, owner: str) -> ValueError | None:
    """A ``DataError`` naming the first column of ``X`` that holds a value that is not a number (text, a
    category, a date), or None when every column is numeric."""
    from fieldguide.errors import DataError

    for j, (name, values) in enumerate(_columns(X)):
        for value in values:
            # numbers NumPy cannot cast (complex) keep scikit-learn's error
            if isinstance(value, numbers.Number):
                continue
            try:
                float(value)
            except (TypeError, ValueError):
                where = f"column {name!r}" if name != j else f"column {j}"
                return DataError(
                    f"X {where} holds {type(value).__name__} values such as {value!r:.40}: {owner} needs numeric "
                    "columns; encode it first (fieldguide.pipeline.Pipeline encodes text and categories)"
                )
    return None
