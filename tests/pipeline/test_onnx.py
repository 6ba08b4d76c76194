"""ONNX export: a pipeline's featurizer, model and labels as one graph whose answers, run by onnxruntime, are the
pipeline's own."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import polars as pl
import pytest
from sklearn.base import is_classifier

from fieldguide.data import Featurizer, infer_schema
from fieldguide.data.synthetic import customers
from fieldguide.errors import ExportError
from fieldguide.models import ZOO, LogisticRegression, MLPClassifier, MLPRegressor, Ridge, adapters
from fieldguide.pipeline import Pipeline, check_onnx, onnx_inputs, to_onnx

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

# Fast settings for the slow members of the zoo; every other estimator runs its defaults.
_QUICK = {
    "RandomForestClassifier": {"n_estimators": 25},
    "RandomForestRegressor": {"n_estimators": 25},
    "ExtraTreesClassifier": {"n_estimators": 25},
    "ExtraTreesRegressor": {"n_estimators": 25},
    "LGBMClassifier": {"n_estimators": 30, "n_jobs": 1},
    "LGBMRegressor": {"n_estimators": 30, "n_jobs": 1},
    "XGBClassifier": {"n_estimators": 30, "n_jobs": 1},
    "XGBRegressor": {"n_estimators": 30, "n_jobs": 1},
    "MLPClassifier": {"max_iter": 30},
    "MLPRegressor": {"max_iter": 30},
    "FactorizationMachineClassifier": {"max_iter": 30},
    "FactorizationMachineRegressor": {"max_iter": 30},
    # scikit-learn's reg_param=0 gives singular covariances on one-hot columns
    "QuadraticDiscriminantAnalysis": {"reg_param": 0.1},
}


def _with_gaps(rows: pl.DataFrame, every: int) -> pl.DataFrame:
    """Missing numbers, booleans and datetimes every few rows (so each column is nullable, with an indicator)."""
    row = pl.int_range(pl.len())
    return rows.with_columns(
        tenure_months=pl.when(row % every == 0).then(None).otherwise("tenure_months"),
        is_senior=pl.when(row % (every + 2) == 1).then(None).otherwise("is_senior"),
        signup_date=pl.when(row % (every + 4) == 2).then(None).otherwise("signup_date"),
    )


@pytest.fixture(scope="module")
def train() -> pl.DataFrame:
    return _with_gaps(customers(500, seed=0), 23)


@pytest.fixture(scope="module")
def fresh() -> pl.DataFrame:
    """Rows the pipelines never saw, with what serving meets: an unseen category, missing numbers, booleans
    and datetimes."""
    rows = _with_gaps(customers(300, seed=7), 13)
    region = pl.when(pl.int_range(pl.len()) % 17 == 0).then(pl.lit("atlantis")).otherwise("region")
    return rows.with_columns(region=region)


def _run(model, feeds: dict) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))


def _fit(table, target, estimator) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the quick settings
        return Pipeline.fit(table, target=target, model=estimator)


# -- every model of the zoo ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ZOO, ids=lambda entry: entry.estimator.__name__)
def test_every_zoo_model_exports_with_the_pipelines_answers(entry, train, fresh):
    if entry.estimator.__name__.startswith("XGB"):
        pytest.importorskip("xgboost")
    estimator = entry.estimator(**_QUICK.get(entry.estimator.__name__, {}))
    target = "churn" if is_classifier(estimator) else "monthly_charges"
    pipe = _fit(train, target, estimator)
    model = to_onnx(pipe)
    result = check_onnx(pipe, model, fresh)
    assert result["rows"] == fresh.height
    assert result["ok"], result
    answers = _run(model, onnx_inputs(pipe, fresh))
    assert answers["prediction"].shape == (fresh.height,)
    if is_classifier(estimator) and hasattr(pipe.model, "predict_proba"):
        np.testing.assert_allclose(answers["probabilities"], pipe.predict_proba(fresh), atol=1e-5)
    elif not is_classifier(estimator):
        np.testing.assert_allclose(answers["prediction"], pipe.predict(fresh), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=40),
        adapters.LGBMClassifier(n_estimators=30, n_jobs=1),
        adapters.RandomForestClassifier(n_estimators=25),
        adapters.Ensemble([LogisticRegression(), adapters.GaussianNB()], weights=[3, 1]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_multiclass_labels_come_out_as_the_targets_strings(estimator, train, fresh):
    pipe = _fit(train, "contract", estimator)
    model = to_onnx(pipe)
    assert check_onnx(pipe, model, fresh)["ok"]
    labels = _run(model, onnx_inputs(pipe, fresh))["prediction"]
    assert set(labels) <= {"month-to-month", "one-year", "two-year"}


def test_boolean_labels_and_a_regression_ensemble(train, fresh):
    pipe = _fit(train, "has_partner", LogisticRegression())
    labels = _run(to_onnx(pipe), onnx_inputs(pipe, fresh))["prediction"]
    assert labels.dtype == np.bool_
    both = adapters.Ensemble([Ridge(), adapters.LGBMRegressor(n_estimators=20, n_jobs=1)], weights=[1, 2])
    pipe = _fit(train, "monthly_charges", both)
    assert check_onnx(pipe, to_onnx(pipe), fresh)["ok"]


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_mlp_activations_and_float64_translate(activation, train, fresh):
    estimator = MLPRegressor(hidden_layer_sizes=(8, 8), activation=activation, max_iter=20, dtype="float64")
    pipe = _fit(train, "monthly_charges", estimator)
    answers = _run(to_onnx(pipe), onnx_inputs(pipe, fresh))
    np.testing.assert_allclose(answers["prediction"], pipe.predict(fresh), rtol=1e-10)


# -- the featurizer's arithmetic ------------------------------------------------------------------------------------


def _features_model(featurizer: Featurizer):
    from onnx import TensorProto, helper

    from fieldguide.models._onnx import Graph
    from fieldguide.pipeline._onnx import _features, _model

    graph = Graph()
    inputs, features = _features(graph, featurizer)
    graph.nodes.append(helper.make_node("Identity", [features], ["features"]))
    return _model(graph, inputs, [helper.make_tensor_value_info("features", TensorProto.DOUBLE, None)])


def test_features_equal_the_featurizers_on_every_kind_and_edge():
    base = dt.datetime(2020, 2, 28, 23, 0)
    when = [base + dt.timedelta(hours=7 * i) for i in range(40)] + [dt.datetime(1965, 12, 31, 5, 30)]
    n = len(when)
    rng = np.random.default_rng(0)
    table = pl.DataFrame(
        {
            "x": rng.normal(size=n),
            "glucose": rng.integers(0, 5, n).astype(float),  # 0 means missing, declared below
            "flag": [None if i % 7 == 0 else bool(i % 2) for i in range(n)],
            "plan": [None if i % 5 == 0 else "abc"[i % 3] for i in range(n)],
            "city": [f"c{i % 30}" for i in range(n)],  # more categories than max_onehot: frequency
            "when": pl.Series(when, dtype=pl.Datetime("us")),
        }
    )
    schema = infer_schema(table).replace("glucose", missing_values=("0",)).replace("city", kind="categorical")
    featurizer = Featurizer(schema, max_onehot=10).fit(table)
    unseen = pl.DataFrame(
        {
            "x": [np.nan, np.inf, -np.inf, 1.5, None],
            "glucose": [0.0, 3.0, None, 1.0, 2.0],
            "flag": [True, None, False, True, False],
            "plan": ["zzz", "a", None, "", "b"],
            "city": ["c3", "nowhere", None, "c29", "c0"],
            "when": pl.Series(
                [
                    dt.datetime(2024, 2, 29, 13),
                    None,
                    dt.datetime(1900, 3, 1),
                    dt.datetime(2000, 12, 31, 23),
                    base,
                ],
                dtype=pl.Datetime("us"),
            ),
        },
        schema_overrides={"x": pl.Float64},
    )
    model = _features_model(featurizer)
    for frame in (table, unseen):
        expected = featurizer.transform(frame.with_columns(plan=pl.col("plan").replace("", None)))
        got = _run(model, onnx_inputs(featurizer, frame))["features"]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_declared_missing_numbers_are_missing_in_the_raw_input_too():
    table = pl.DataFrame({"g": [0.0, 1.0, 2.0, 0.0, 4.0], "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    schema = infer_schema(table, target="y").replace("g", missing_values=("0",), nullable=True)
    pipe = Pipeline.fit(table, "y", Ridge(), schema=schema)
    raw = {"g": np.array([0.0, 2.0])}  # 0 not typed first: the graph itself treats it as missing
    got = _run(to_onnx(pipe), raw)["prediction"]
    np.testing.assert_allclose(got, pipe.predict(pl.DataFrame({"g": [None, 2.0]})), rtol=1e-6)


# -- what cannot be exported, and the command line ------------------------------------------------------------------


def test_a_text_column_is_refused_by_name():
    table = pl.DataFrame(
        {
            "note": [f"customer said {'word ' * (i % 9)} {i}" for i in range(60)],
            "x": np.arange(60.0),
            "y": np.arange(60.0) % 2,
        }
    )
    schema = infer_schema(table, target="y").replace("note", kind="text")
    pipe = Pipeline.fit(table, "y", Ridge(), schema=schema)
    with pytest.raises(ExportError, match="column 'note' is text"):
        to_onnx(pipe)


def test_a_primitive_without_translation_is_named():
    import jax
    import jax.numpy as jnp

    from fieldguide.models._onnx import Graph, _translate

    closed = jax.make_jaxpr(lambda X: jnp.cumsum(X, axis=1))(jax.ShapeDtypeStruct((3, 2), np.float32))
    with pytest.raises(ExportError, match="'cumsum'"):
        _translate(Graph(), closed.jaxpr, closed.consts, ["X"])


def test_models_export_writes_checks_and_refuses(tmp_path, train, fresh):
    from typer.testing import CliRunner

    from fieldguide.cli import app
    from fieldguide.registry import Registry

    url, root = f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts"
    pipe = _fit(train, "churn", adapters.LGBMClassifier(n_estimators=20, n_jobs=1))
    with Registry(url, artifact_root=root) as registry:
        registry.register("churn", pipe.save(tmp_path / "pipe"))
        registry.set_alias("churn", "champion", 1)
    holdout = tmp_path / "holdout.csv"
    fresh.write_csv(holdout)
    where = ["--registry", url, "--artifacts", str(root)]

    def export(*args):
        return CliRunner().invoke(app, ["models", "export", *args, *where], env={"COLUMNS": "200"})

    result = export("churn", "--onnx", str(tmp_path / "churn.onnx"), "--check", str(holdout))
    assert result.exit_code == 0, result.output
    assert "churn version 1, LGBMClassifier" in result.output and "agree" in result.output
    assert "contract (string)" in result.output and "outputs: prediction, probabilities" in result.output
    model = onnx.load(tmp_path / "churn.onnx")
    assert {p.key: p.value for p in model.metadata_props}["target"] == "churn"
    refused = export("churn", "1", "--onnx", str(tmp_path / "no" / "such" / "dir.onnx"))
    assert refused.exit_code == 2 and "does not exist" in refused.output
    unknown = export("churn", "7", "--onnx", str(tmp_path / "x.onnx"))
    assert unknown.exit_code == 2 and "version 7" in unknown.output


def test_lightgbm_splits_compare_in_float64_as_lightgbm_does():
    """Values 1e-9 apart: float32 cannot tell them apart, so a float32 tree ensemble would put them all in one
    leaf; the exported ensemble compares float64 features with LightGBM's float64 thresholds."""
    from onnx import TensorProto, helper

    from fieldguide.models._onnx import Graph, model_outputs
    from fieldguide.pipeline._onnx import _model

    X = (1.0 + np.arange(200) * 1e-9)[:, None]
    y = np.where(np.arange(200) >= 100, 5.0, -5.0)
    booster = adapters.LGBMRegressor(n_estimators=5, n_jobs=1, min_child_samples=5).fit(X, y)
    graph = Graph()
    answer = model_outputs(graph, booster, "features", 1)
    graph.nodes.append(helper.make_node("Identity", [answer.name], ["value"]))
    inputs = [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["rows", 1])]
    model = _model(graph, inputs, [helper.make_tensor_value_info("value", TensorProto.DOUBLE, ["rows"])])
    got = _run(model, {"features": X})["value"]
    assert np.ptp(booster.predict(X)) > 3  # LightGBM itself separates them
    np.testing.assert_allclose(got, booster.predict(X), rtol=1e-6)


def test_a_missing_converter_names_the_extra(train, monkeypatch):
    import sys

    pipe = _fit(train, "churn", adapters.GaussianNB())
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(ExportError, match=r"GaussianNB needs skl2onnx, of the onnx extra: pip install"):
        to_onnx(pipe)
