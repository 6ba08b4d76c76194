"""The same fit through NumPy, lists, pandas, Polars and Arrow gives identical coefficients and feature names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from fieldguide import models
from fieldguide._inputs import tabular, target

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
Y = (X @ [1.0, -1.0, 0.5] > 0).astype(int)
NAMES = ["age", "income", "tenure"]
LABELS = np.array(["no", "yes"])[Y]

CONTAINERS = {
    "numpy": (lambda: X, lambda: LABELS, None),
    "list": (lambda: X.tolist(), lambda: LABELS.tolist(), None),
    "pandas": (lambda: pd.DataFrame(X, columns=NAMES), lambda: pd.Series(LABELS), NAMES),
    "polars": (lambda: pl.DataFrame(X, schema=NAMES), lambda: pl.Series(LABELS), NAMES),
    "arrow table": (lambda: pa.table(dict(zip(NAMES, X.T, strict=True))), lambda: pa.array(LABELS), NAMES),
    "arrow record batch": (
        lambda: pa.record_batch(dict(zip(NAMES, X.T, strict=True))),
        lambda: pa.chunked_array([LABELS[:30], LABELS[30:]]),
        NAMES,
    ),
}


@pytest.fixture(scope="module")
def reference():
    return models.LogisticRegression(dtype="float64").fit(X, LABELS)


@pytest.mark.parametrize("container", CONTAINERS)
def test_every_container_gives_identical_coefficients(container, reference):
    make_X, make_y, names = CONTAINERS[container]
    model = models.LogisticRegression(dtype="float64").fit(make_X(), make_y())
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    np.testing.assert_array_equal(model.intercept_, reference.intercept_)
    assert model.classes_.tolist() == ["no", "yes"]
    if names is None:
        assert not hasattr(model, "feature_names_in_")
    else:
        assert model.feature_names_in_.tolist() == names
    np.testing.assert_array_equal(model.predict(make_X()), reference.predict(X))


def test_columns_in_another_order_warn_like_scikit_learn():
    model = models.Ridge().fit(pd.DataFrame(X, columns=NAMES), Y)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(pd.DataFrame(X, columns=NAMES[::-1]))


def test_arrow_stream_producers_are_read_through_pyarrow():
    class Stream:  # any object with the Arrow PyCapsule stream interface, e.g. a DuckDB relation
        def __arrow_c_stream__(self, requested_schema=None):
            return pa.table({"a": [1.0, 2.0]}).__arrow_c_stream__(requested_schema)

    assert tabular(Stream()).column_names == ["a"]
    assert target(pa.table({"y": [1, 2]})).tolist() == [1, 2]
    with pytest.raises(ValueError, match="one column"):
        target(pa.table({"a": [1], "b": [2]}))


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="NaN"):
        models.Ridge().fit(np.array([[np.nan], [1.0]]), [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        models.LogisticRegression().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        models.Ridge(dtype="float16").fit(X, Y)


LABEL_ARRAYS = [
    np.array([3, 1, 3, 7, 1]),
    np.array([-128, 127, 0, -128] * 20, dtype=np.int8),  # offsets past int8's range
    np.array([2**64 - 1, 5, 2**64 - 1], dtype=np.uint64),  # beyond intp: sorted instead
    np.array([10**12, 0, 10**12]),  # a range far wider than the labels: sorted instead
    np.array(["b", "a", "b"]),
    np.array([True, False, True]),
    np.array([0.0, 1.0, 1.0]),
]


@pytest.mark.parametrize("y", LABEL_ARRAYS, ids=lambda y: str(y.dtype))
def test_class_encoding_matches_numpy_unique(y):
    from fieldguide.models._base import encode_classes

    classes, ids = encode_classes(y)
    expected_classes, expected_ids = np.unique(y, return_inverse=True)
    np.testing.assert_array_equal(classes, expected_classes)
    assert classes.dtype == expected_classes.dtype and ids.dtype == np.int32
    np.testing.assert_array_equal(ids, expected_ids)


def test_continuous_targets_are_refused_by_classifiers():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="Unknown label type"):
        models.LogisticRegression().fit(X, X[:, 0])


def test_float64_columns_beyond_float32_are_named():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int)
    fitted = models.LogisticRegression().fit(X, y)
    X[4, 1] = 1e39  # finite in float64, inf once cast to the estimator's float32
    with pytest.raises(ValueError, match=r"X: expected finite values in float32.*first at row 4"):
        models.LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="first at row 4"):
        fitted.predict(X)
    assert models.LogisticRegression(dtype="float64").fit(X, y).predict(X).shape == (20,)
