"""The same fit through NumPy, lists, pandas, Polars and Arrow gives identical coefficients and feature names."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from fieldguide import models
from fieldguide._inputs import tabular, target
from fieldguide.errors import DataError

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
    """Identical to rounding: pandas and Polars hand over a column-major X, which the trainer holds feature by
    feature (``fieldguide.core.models.FeatureMajor``), summing in another order; the others' are bitwise equal."""
    make_X, make_y, names = CONTAINERS[container]
    model = models.LogisticRegression(dtype="float64").fit(make_X(), make_y())
    column_major = np.asarray(make_X()).flags.f_contiguous
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-14 if column_major else 0)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-14 if column_major else 0)
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


def test_a_numpy_x_like_the_fits_skips_scikit_learns_second_check(monkeypatch, reference):
    from fieldguide.models import _base

    checked = []
    validate = _base.validate_data
    monkeypatch.setattr(_base, "validate_data", lambda *a, **kw: checked.append(a[1]) or validate(*a, **kw))
    for plain in (X, X.astype(np.float32), np.asfortranarray(X), (X > 0).astype(int)):
        np.testing.assert_array_equal(reference.predict_proba(plain), reference.predict_proba(plain.tolist()))
    assert len(checked) == 4  # the lists only
    for unlike in (X[:, :2], X[0], X[:0], X.astype(complex)):  # scikit-learn's errors, as before
        with pytest.raises(ValueError):
            reference.predict(unlike)
    named = models.LogisticRegression(dtype="float64").fit(pd.DataFrame(X, columns=NAMES), LABELS)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        named.predict(X)  # fitted with names: checked, as scikit-learn warns


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


# a value outside each shared parameter's range, as a user might write it
BAD_VALUES = {
    "alpha": -1,
    "C": 0.0,
    "l1_ratio": 1.5,
    "epsilon": 0.5,
    "quantile": 1.0,
    "tol": -1e-4,
    "max_iter": 0,
    "learning_rate_init": -0.1,
    "rank": 0,
    "validation_fraction": 1.0,
    "n_iter_no_change": 2.5,
    "solver": "newton",
    "momentum": 1.5,
    "beta_1": 1.0,
    "beta_2": -0.1,
    "shuffle": "yes",
    "warm_start": None,
    "nesterovs_momentum": 1,
    "early_stopping": "no",
    "devices": 0,
}
MLP_BAD_VALUES = {"epsilon": 0.0}  # Adam's epsilon (> 0), where HuberRegressor's must be >= 1
OWN = [e.estimator for e in models.ZOO if e.estimator.__module__.startswith("fieldguide.models._")]


@pytest.mark.parametrize(
    ("cls", "name"),
    [(cls, name) for cls in OWN for name in BAD_VALUES if name in cls().get_params()],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_a_parameter_out_of_range_is_named_as_written(cls, name):
    """Ridge(alpha=-1) said 'L2: alpha must be >= 0, got -0.005' (the core's rescaled penalty); rank=0,
    learning_rate_init=-0.1 and tol=-1 were accepted."""
    bad = MLP_BAD_VALUES.get(name, BAD_VALUES[name]) if "MLP" in cls.__name__ else BAD_VALUES[name]
    y = (np.median(Y) < Y).astype(int)
    with pytest.raises(
        ValueError, match=re.escape(f"{cls.__name__}: {name} must be ") + ".*" + f"got {bad!r}$"
    ):
        cls(**{name: bad}).fit(X, y)


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
    with pytest.raises(ValueError, match=r"X: expected finite values in float32.*first at row 4, column 1$"):
        models.LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=r"first at row 4, column 1$"):
        fitted.predict(X)
    assert models.LogisticRegression(dtype="float64").fit(X, y).predict(X).shape == (20,)


TEXT_TABLES = {
    "pandas": lambda a: pd.DataFrame({"a": a, "city": ["x", "y"] * (len(a) // 2)}),
    "pandas categorical": lambda a: pd.DataFrame(
        {"a": a, "city": pd.Categorical(["x", "y"] * (len(a) // 2))}
    ),
    "polars": lambda a: pl.DataFrame({"a": a, "city": ["x", "y"] * (len(a) // 2)}),
    "arrow": lambda a: pa.table({"a": a, "city": ["x", "y"] * (len(a) // 2)}),
    "numpy": lambda a: np.column_stack([a, ["x", "y"] * (len(a) // 2)]),
}


@pytest.mark.parametrize("make", TEXT_TABLES.values(), ids=TEXT_TABLES.keys())
def test_a_text_column_is_named(make):
    """Polars and Arrow text reached the solver as objects (a raw TypeError); pandas text gave scikit-learn's
    'could not convert string to float' without the column."""
    table = make(np.linspace(0.0, 1.0, 20))
    where = "column 1" if isinstance(table, np.ndarray) else "column 'city'"
    message = re.escape(f"X {where} holds str values such as 'x': LogisticRegression needs numeric columns")
    y = np.arange(20) % 2
    with pytest.raises(DataError, match=message):
        models.LogisticRegression().fit(table, y)
    fitted = models.LogisticRegression().fit(np.column_stack([np.linspace(0.0, 1.0, 20)] * 2), y)
    with pytest.raises(DataError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fitted without feature names
        fitted.predict(table)
