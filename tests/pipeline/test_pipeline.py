"""The fitted pipeline: one feature path for tables and records, reference statistics, lineage, safe artifacts."""

from __future__ import annotations

import collections
import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from fieldguide.data import infer_schema
from fieldguide.data.synthetic import customers, regression_table
from fieldguide.errors import ArtifactError, DataError, SchemaError
from fieldguide.models import LogisticRegression, Ridge, adapters
from fieldguide.pipeline import Pipeline, category_summary, fingerprint, numeric_summary


@pytest.fixture(scope="module")
def churn() -> pl.DataFrame:
    return customers(400, seed=0)


@pytest.fixture(scope="module")
def classifier(churn) -> Pipeline:
    """A zoo classifier (the JAX logistic regression) on the churn table."""
    return Pipeline.fit(churn, target="churn", model=LogisticRegression(), seed=3, config={"note": "test"})


@pytest.fixture(scope="module")
def regressor() -> Pipeline:
    return Pipeline.fit(regression_table(300, seed=1), target="y", model=Ridge(alpha=0.1))


def _quick_lgbm(**params):
    return adapters.LGBMClassifier(n_estimators=15, n_jobs=1, **params)


# -- fitting and predicting ---------------------------------------------------------------------------------------


def test_binary_pipeline_predicts_through_the_featurizer(classifier, churn):
    assert (classifier.task, classifier.target, classifier.classes_) == ("binary", "churn", [0, 1])
    X = classifier.featurizer.transform(churn)
    np.testing.assert_array_equal(
        classifier.predict(churn), classifier.model.predict(X)
    )  # ids 0/1 are the labels
    np.testing.assert_array_equal(classifier.predict(churn), classifier.predict_proba(churn).argmax(axis=1))
    proba = classifier.predict_proba(churn)
    assert proba.shape == (churn.height, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba, classifier.model.predict_proba(X))
    accuracy = float(np.mean(classifier.predict(churn) == churn["churn"].to_numpy()))
    majority = max(churn["churn"].mean(), 1 - churn["churn"].mean())
    assert accuracy > majority + 0.05  # it learned the known logistic structure, not the base rate


def test_fit_leaves_the_given_model_unfitted(churn):
    model = _quick_lgbm()
    assert hasattr(Pipeline.fit(churn, target="churn", model=model).model, "booster_")
    assert not hasattr(model, "booster_")


def test_seed_becomes_random_state_unless_set(churn):
    assert Pipeline.fit(churn, "churn", _quick_lgbm(), seed=7).model.random_state == 7
    assert Pipeline.fit(churn, "churn", _quick_lgbm(random_state=1), seed=7).model.random_state == 1


def test_predict_records_equals_predict_row_by_row(classifier, churn):
    records = churn.drop("churn").to_dicts()
    np.testing.assert_array_equal(
        classifier.featurizer.transform_records(records), classifier.featurizer.transform(churn)
    )
    out = classifier.predict_records(records)
    assert [row["prediction"] for row in out] == classifier.predict(churn).tolist()
    proba = np.array([[row["probabilities"]["0"], row["probabilities"]["1"]] for row in out])
    # float32 model: the batch shape may change the last bits of the matrix product
    np.testing.assert_allclose(proba, classifier.predict_proba(churn), rtol=1e-5, atol=1e-7)
    json.dumps(out)  # plain JSON types


def test_declared_missing_values_are_missing_in_training_and_in_served_records(churn):
    sentinel = churn.with_columns(age=pl.col("age").fill_null(-1))  # an export that wrote missing ages as -1
    schema = infer_schema(sentinel, target="churn", missing={"age": [-1]})
    pipe = Pipeline.fit(sentinel, "churn", LogisticRegression(), schema=schema)
    as_nulls = Pipeline.fit(churn, "churn", LogisticRegression(), schema=infer_schema(churn, target="churn"))
    np.testing.assert_allclose(pipe.predict_proba(sentinel), as_nulls.predict_proba(churn), rtol=1e-6)
    records = sentinel.drop("churn").head(20).to_dicts()
    assert any(record["age"] == -1 for record in records)
    served = [row["probabilities"]["1"] for row in pipe.predict_records(records)]
    np.testing.assert_allclose(served, as_nulls.predict_proba(churn.head(20))[:, 1], rtol=1e-5)


def test_pandas_and_arrow_tables_predict_the_same(classifier, churn):
    expected = classifier.predict(churn)
    np.testing.assert_array_equal(classifier.predict(churn.to_pandas()), expected)
    np.testing.assert_array_equal(classifier.predict(churn.to_arrow()), expected)


def test_multiclass_keeps_string_labels_sorted(churn):
    pipe = Pipeline.fit(churn, target="contract", model=adapters.GaussianNB())
    assert pipe.task == "multiclass"
    assert pipe.classes_ == ["month-to-month", "one-year", "two-year"]
    predicted = pipe.predict(churn)
    assert set(predicted.tolist()) <= set(pipe.classes_)
    record = pipe.predict_records(churn.drop("contract").head(1).to_dicts())[0]
    assert record["prediction"] == predicted[0]
    assert list(record["probabilities"]) == pipe.classes_
    assert sum(record["probabilities"].values()) == pytest.approx(1.0)
    records = churn.drop("contract").head(4).to_dicts()
    assert pipe.predict_records(records, validate=False) == pipe.predict_records(records)


def test_encode_target_is_what_fit_uses(churn):
    from fieldguide.pipeline import encode_target

    encoded = encode_target(churn, "contract")
    assert encoded.schema.target == "contract" and encoded.task == "multiclass"
    np.testing.assert_array_equal(np.asarray(encoded.classes)[encoded.y], churn["contract"].to_numpy())
    assert encode_target(churn, "monthly_charges").classes is None


def test_regression_pipeline(regressor):
    table = regression_table(300, seed=1)
    assert (regressor.task, regressor.classes_) == ("regression", None)
    predicted = regressor.predict(table)
    y = table["y"].to_numpy()
    assert 1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2) > 0.85  # the known linear target
    records = regressor.predict_records(table.drop("y").head(5).to_dicts())
    assert [set(r) for r in records] == [{"prediction"}] * 5
    np.testing.assert_allclose([r["prediction"] for r in records], predicted[:5], rtol=1e-5)
    with pytest.raises(DataError, match="regression"):
        regressor.predict_proba(table)


def test_non_probabilistic_classifier_gives_labels_only(churn):
    from sklearn.linear_model import RidgeClassifier  # any scikit-learn estimator fits; only the zoo saves

    pipe = Pipeline.fit(churn, target="churn", model=RidgeClassifier())
    assert set(pipe.predict_records(churn.head(2).to_dicts())[0]) == {"prediction"}
    with pytest.raises(DataError, match="RidgeClassifier does not give probabilities"):
        pipe.predict_proba(churn)


# -- errors -------------------------------------------------------------------------------------------------------


def test_unknown_target_is_refused(churn):
    with pytest.raises(SchemaError, match="target 'churned' is not a column"):
        Pipeline.fit(churn, target="churned", model=_quick_lgbm())


def test_one_class_target_is_refused(churn):
    with pytest.raises(DataError, match="at least 2 classes, found only \\['a'\\]"):
        Pipeline.fit(churn.with_columns(label=pl.lit("a")), target="label", model=_quick_lgbm())


@pytest.mark.parametrize("target", ["churn", "monthly_charges"])
def test_missing_target_values_are_refused(churn, target):
    holed = churn.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col(target)).alias(target)
    )
    with pytest.raises(DataError, match=f"target '{target}': 1 missing"):
        Pipeline.fit(holed, target=target, model=_quick_lgbm() if target == "churn" else Ridge())


def test_training_table_must_match_a_given_schema(churn):
    schema = infer_schema(churn, target="churn")
    with pytest.raises(SchemaError, match=r"age: expected a column"):
        Pipeline.fit(churn.drop("age"), target="churn", model=_quick_lgbm(), schema=schema)
    with pytest.raises(SchemaError, match="the schema's target is 'churn'"):
        Pipeline.fit(churn, target="region", model=_quick_lgbm(), schema=schema)


def test_model_must_suit_the_task(churn):
    with pytest.raises(DataError, match="LGBMClassifier is a classifier, but target 'monthly_charges'"):
        Pipeline.fit(churn, target="monthly_charges", model=_quick_lgbm())
    with pytest.raises(DataError, match="Ridge is a regressor, but target 'churn' makes a binary task"):
        Pipeline.fit(churn, target="churn", model=Ridge())


def test_empty_input_gives_empty_output(classifier, churn):
    assert classifier.predict(churn.head(0)).shape == (0,)
    assert classifier.predict_proba(churn.head(0)).shape == (0, 2)
    assert classifier.predict_records([]) == []


def test_config_must_be_json(churn):
    with pytest.raises(DataError, match="config"):
        Pipeline.fit(churn, target="churn", model=_quick_lgbm(), config={"when": dt.datetime.now()})


def test_predict_refuses_a_table_without_a_feature(classifier, churn):
    with pytest.raises(SchemaError, match="tenure_months: expected a column, found no such column"):
        classifier.predict(churn.drop("tenure_months"))


def test_predict_records_lists_every_violation(classifier, churn):
    records = churn.drop("churn").head(3).to_dicts()
    records[0]["age"] = "old"
    records[2]["monthly_charges"] = float("inf")
    del records[1]["region"]
    with pytest.raises(SchemaError, match="3 schema violation") as caught:
        classifier.predict_records(records)
    found = {(v.column, v.row, v.rule) for v in caught.value.violations}
    assert found == {
        ("age", 0, "wrong_type"),
        ("region", 1, "missing_column"),
        ("monthly_charges", 2, "non_finite"),
    }


def test_unknown_category_is_a_warning_not_an_error(classifier, churn):
    record = churn.drop("churn").head(1).to_dicts()[0] | {"region": "atlantis"}
    assert classifier.predict_records([record])[0]["prediction"] in (0, 1)


# -- reference statistics -----------------------------------------------------------------------------------------


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


@pytest.mark.parametrize("column", ["age", "monthly_charges", "support_calls"])
def test_numeric_reference_matches_numpy(classifier, churn, column):
    stats = classifier.reference["features"][column]
    raw = churn[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
    values = _finite(raw)
    assert stats["kind"] == "numeric"
    assert stats["count"] == churn.height
    assert stats["missing_rate"] == pytest.approx(np.mean(~np.isfinite(raw)))
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert (stats["min"], stats["max"]) == (values.min(), values.max())
    for q, value in stats["quantiles"].items():
        assert value == pytest.approx(np.quantile(values, float(q)), rel=1e-12)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    np.testing.assert_allclose(stats["bins"]["edges"], edges, rtol=1e-12)
    assert stats["bins"]["counts"] == np.histogram(values, bins=edges)[0].tolist()
    assert sum(stats["bins"]["counts"]) == values.size


def test_missing_rate_counts_non_finite_values():
    stats = numeric_summary(np.array([1.0, np.nan, np.inf, -np.inf, 2.0, 3.0, 4.0, 5.0]))
    assert stats["missing_rate"] == 0.375
    assert stats["mean"] == 3.0


def test_constant_column_has_one_bin():
    stats = numeric_summary(np.full(7, 2.5))
    assert stats["bins"] == {"edges": [2.5, 2.5], "counts": [7]}
    assert stats["std"] == 0.0


@pytest.mark.parametrize("column", ["contract", "region", "is_senior"])
def test_category_reference_matches_counts(classifier, churn, column):
    stats = classifier.reference["features"][column]
    expected = collections.Counter(str(v).lower() for v in churn[column].to_list())
    assert stats["counts"] == dict(expected)
    assert (stats["other"], stats["missing_rate"], stats["count"]) == (0, 0.0, churn.height)


def test_categories_beyond_the_top_50_are_other():
    values = [f"c{i:02d}" for i in range(60) for _ in range(i + 1)] + [None] * 10
    stats = category_summary(pl.Series("x", values))
    assert len(stats["counts"]) == 50
    assert list(stats["counts"])[:2] == ["c59", "c58"]  # most frequent first
    assert stats["other"] == sum(range(1, 11))
    assert stats["missing_rate"] == pytest.approx(10 / len(values))


def test_datetime_reference_and_identifiers_left_out(classifier, churn):
    stats = classifier.reference["features"]["signup_date"]
    assert (stats["min"], stats["max"]) == (
        churn["signup_date"].min().isoformat(),
        churn["signup_date"].max().isoformat(),
    )
    assert "customer_id" not in classifier.reference["features"]  # an identifier, not a feature
    assert "churn" not in classifier.reference["features"]


def test_target_and_prediction_distributions(classifier, churn):
    assert classifier.reference["target"] == {
        str(k): int(v) for k, v in enumerate(np.bincount(churn["churn"].to_numpy()))
    }
    prediction = classifier.reference["prediction"]
    predicted = classifier.predict(churn)
    assert prediction["counts"] == {"0": int(np.sum(predicted == 0)), "1": int(np.sum(predicted == 1))}
    proba = classifier.predict_proba(churn)
    edges = prediction["probability_bins"]["edges"]
    assert edges == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert prediction["probability_bins"]["counts"]["1"] == np.histogram(proba[:, 1], bins=edges)[0].tolist()


def test_regression_reference_summarises_values(regressor):
    y = regression_table(300, seed=1)["y"].to_numpy()
    assert regressor.reference["target"]["mean"] == pytest.approx(y.mean())
    predicted = regressor.predict(regression_table(300, seed=1))
    assert regressor.reference["prediction"]["mean"] == pytest.approx(predicted.mean(), rel=1e-9)


# -- lineage ------------------------------------------------------------------------------------------------------


def test_fingerprint_ignores_row_order_but_not_content(churn):
    base = fingerprint(churn)
    assert base == fingerprint(churn.sample(fraction=1.0, shuffle=True, seed=1))
    assert base["sha256"] != fingerprint(churn.with_columns(age=pl.col("age") + 1))["sha256"]
    assert (
        base["sha256"] != fingerprint(pl.concat([churn, churn.head(1)]))["sha256"]
    )  # a duplicated row counts
    assert base["sha256"] != fingerprint(churn.rename({"age": "years"}))["sha256"]
    assert (base["rows"], [c[0] for c in base["columns"]]) == (churn.height, churn.columns)


def test_lineage_records_data_config_seed_and_versions(classifier, churn):
    lineage = classifier.lineage
    assert lineage["data"] == fingerprint(churn)
    assert (lineage["seed"], lineage["config"], lineage["model"]) == (
        3,
        {"note": "test"},
        "LogisticRegression",
    )
    assert lineage["params"] == LogisticRegression().get_params()
    assert set(lineage["versions"]) >= {"python", "numpy", "jax", "polars", "scikit-learn"}
    assert dt.datetime.fromisoformat(lineage["created"]).tzinfo is not None
    assert lineage["fieldguide_version"]


def test_lineage_has_git_state_only_inside_a_checkout(tmp_path, monkeypatch, churn):
    import subprocess

    monkeypatch.chdir(tmp_path)
    small = churn.head(80)
    assert "git" not in Pipeline.fit(small, "churn", _quick_lgbm()).lineage
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "f.txt").write_text("x")
    subprocess.run(["git", "add", "f.txt"], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Pipeline.fit(small, "churn", _quick_lgbm()).lineage["git"] == {"commit": head, "dirty": False}
    (tmp_path / "f.txt").write_text("changed")
    assert Pipeline.fit(small, "churn", _quick_lgbm()).lineage["git"]["dirty"] is True


# -- artifacts ----------------------------------------------------------------------------------------------------


def _assert_same(loaded: Pipeline, pipe: Pipeline, table: pl.DataFrame) -> None:
    assert (loaded.task, loaded.target, loaded.classes_) == (pipe.task, pipe.target, pipe.classes_)
    assert loaded.schema == pipe.schema
    assert (loaded.reference, loaded.lineage, loaded.metrics) == (pipe.reference, pipe.lineage, pipe.metrics)
    np.testing.assert_array_equal(loaded.predict(table), pipe.predict(table))
    if pipe.task != "regression" and hasattr(pipe.model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(table), pipe.predict_proba(table))
    records = table.head(5).to_dicts()
    assert loaded.predict_records(records) == pipe.predict_records(records)


def test_zoo_classifier_round_trip(classifier, churn, tmp_path):
    classifier.metrics = {"roc_auc": 0.81, "folds": [0.8, 0.82]}
    path = classifier.save(tmp_path / "pipe")
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == [
        "featurizer.json",
        "manifest.json",
        "model/manifest.json",
        "model/meta.json",
        "model/tensors.safetensors",
        "pipeline.json",
        "reference.json",
        "schema.json",
    ]
    for file in path.rglob("*"):
        assert not file.is_file() or not file.read_bytes().startswith(b"\x80")  # no pickle
    _assert_same(Pipeline.load(path), classifier, churn)


def test_zoo_regressor_round_trip(regressor, tmp_path):
    _assert_same(Pipeline.load(regressor.save(tmp_path / "pipe")), regressor, regression_table(300, seed=1))


QUICK = {
    "RandomForestClassifier": {"n_estimators": 5},
    "RandomForestRegressor": {"n_estimators": 5},
    "ExtraTreesClassifier": {"n_estimators": 5},
    "ExtraTreesRegressor": {"n_estimators": 5},
    "QuadraticDiscriminantAnalysis": {"reg_param": 0.5},
    "LGBMClassifier": {"n_estimators": 10, "n_jobs": 1},
    "LGBMRegressor": {"n_estimators": 10, "n_jobs": 1},
    "XGBClassifier": {"n_estimators": 10, "n_jobs": 1},
    "XGBRegressor": {"n_estimators": 10, "n_jobs": 1},
}
ADAPTERS = [cls for cls in adapters.SAVABLE if cls is not adapters.Ensemble]


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
def test_adapter_round_trip(cls, churn, tmp_path):
    if cls.__name__.startswith("XGB"):
        pytest.importorskip("xgboost")
    regression = "Regressor" in cls.__name__
    target = "monthly_charges" if regression else "contract"
    pipe = Pipeline.fit(churn, target=target, model=cls(**QUICK.get(cls.__name__, {})))
    _assert_same(Pipeline.load(pipe.save(tmp_path / "pipe")), pipe, churn)


def test_ensemble_round_trip(churn, tmp_path):
    members = [LogisticRegression(), _quick_lgbm(), adapters.GaussianNB()]
    pipe = Pipeline.fit(churn, target="churn", model=adapters.Ensemble(members, weights=[2, 1, 1]))
    _assert_same(Pipeline.load(pipe.save(tmp_path / "pipe")), pipe, churn)


@pytest.fixture
def saved(tmp_path, churn):
    return Pipeline.fit(churn.head(120), "churn", _quick_lgbm()).save(tmp_path / "pipe")


def _flip_byte(file):
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 1
    file.write_bytes(bytes(data))


def _rewrite_manifest(path, edit):
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _disguise_model_class(path):
    """An attacker who knows the format: swap the model class and fix both manifests' checksums."""
    from fieldguide._files import sha256_file

    meta_file = path / "model" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["class"] = "os.system"
    meta_file.write_text(json.dumps(meta))
    inner = json.loads((path / "model" / "manifest.json").read_text())
    inner["files"]["meta.json"] = sha256_file(meta_file)
    (path / "model" / "manifest.json").write_text(json.dumps(inner))
    _rewrite_manifest(
        path,
        lambda m: m["files"].update(
            {name: sha256_file(path / name) for name in ("model/meta.json", "model/manifest.json")}
        ),
    )


TAMPERING = [
    ("booster bytes", lambda p: _flip_byte(p / "model" / "meta.json"), "model/meta.json: SHA-256"),
    (
        "tensor bytes",
        lambda p: _flip_byte(p / "model" / "tensors.safetensors"),
        "tensors.safetensors: SHA-256",
    ),
    ("reference edited", lambda p: (p / "reference.json").write_text("{}"), "reference.json: SHA-256"),
    ("featurizer gone", lambda p: (p / "featurizer.json").unlink(), "featurizer.json: missing"),
    (
        "file added",
        lambda p: (p / "model" / "extra.py").write_text("import os"),
        "extra.py: not in the manifest",
    ),
    ("manifest gone", lambda p: (p / "manifest.json").unlink(), "manifest.json: missing"),
    (
        "future format",
        lambda p: _rewrite_manifest(p, lambda m: m.update(format_version=2)),
        "format_version 2",
    ),
    ("old format", lambda p: _rewrite_manifest(p, lambda m: m.update(format_version=0)), "format_version 0"),
    ("other format", lambda p: _rewrite_manifest(p, lambda m: m.update(format="x")), "expected format"),
    (
        "unsafe path",
        lambda p: _rewrite_manifest(p, lambda m: m["files"].update({"../x": "0"})),
        "unsafe file path",
    ),
    ("class swapped", _disguise_model_class, "'os.system' is not a fieldguide estimator"),
]


@pytest.mark.parametrize(("attack", "message"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING])
def test_tampered_artifact_is_refused(saved, attack, message):
    attack(saved)
    with pytest.raises(ArtifactError, match=message) as caught:
        Pipeline.load(saved)
    assert str(saved) in str(caught.value)


def test_symbolic_links_are_refused(saved, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (saved / "link.json").symlink_to(outside)
    with pytest.raises(ArtifactError, match="symbolic links"):
        Pipeline.load(saved)


def test_save_never_overwrites(saved, churn):
    pipe = Pipeline.load(saved)
    with pytest.raises(ArtifactError, match="already exists"):
        pipe.save(saved)


def test_unsavable_metrics_are_refused_and_leave_nothing(classifier, tmp_path):
    pipe = Pipeline.load(classifier.save(tmp_path / "ok"))
    pipe.metrics = {"auc": float("nan")}
    with pytest.raises(ArtifactError, match=r"pipeline\.json: cannot be written as JSON"):
        pipe.save(tmp_path / "bad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok"]


def test_public_surface():
    import fieldguide.pipeline

    assert sorted(fieldguide.pipeline.__all__) == [
        "EncodedTarget",
        "FORMAT",
        "FORMAT_VERSION",
        "Pipeline",
        "category_summary",
        "check_onnx",
        "encode_target",
        "feature_statistics",
        "fingerprint",
        "numeric_summary",
        "onnx_inputs",
        "save_onnx",
        "to_onnx",
    ]


def test_a_schema_error_shows_each_kind_of_violation_once_with_a_count(classifier, churn):
    table = churn.drop("churn").head(40).with_columns(age=pl.lit("old"), tenure_months=pl.lit("long"))
    with pytest.raises(SchemaError) as caught:
        classifier.predict(table)
    assert str(caught.value) == (
        "table: 80 schema violation(s): age: expected numeric, found string 'old' at row 0 (and 39 more row(s) "
        "like it); tenure_months: expected numeric, found string 'long' at row 0 (and 39 more row(s) like it)"
    )
    assert len(caught.value.violations) == 80
    good = churn.drop("churn").head(1).to_dicts()[0]
    with pytest.raises(SchemaError) as caught:  # ten required fields missing, then a wrong type: eleven kinds
        classifier.predict_records([{"customer_id": 1}, {**good, "age": "old"}])
    message = str(caught.value)
    assert message.startswith("records: 11 schema violation(s): signup_date: expected a field")
    assert message.count("expected a field") == 10 and "age: expected numeric" not in message
    assert message.endswith("; and 1 more kind(s) of violation") and len(caught.value.violations) == 11
