"""Adapters: scikit-learn's contract, the wrapped library's predictions, and pickle-free round trips through io."""

from __future__ import annotations

import json
import re
import sys
import warnings

import numpy as np
import pytest
from sklearn import discriminant_analysis, dummy, ensemble, naive_bayes, neighbors, tree
from sklearn.metrics import log_loss
from sklearn.utils.estimator_checks import parametrize_with_checks

from fieldguide import io
from fieldguide._files import sha256_file
from fieldguide.errors import ArtifactError, DataError
from fieldguide.models import (
    ZOO,
    FactorizationMachineClassifier,
    LinearSVC,
    LogisticRegression,
    MLPClassifier,
    Ridge,
    adapters,
)

SMALL = {
    "RandomForestClassifier": {"n_estimators": 5, "random_state": 0},
    "RandomForestRegressor": {"n_estimators": 5, "random_state": 0},
    "ExtraTreesClassifier": {"n_estimators": 5, "random_state": 0},
    "ExtraTreesRegressor": {"n_estimators": 5, "random_state": 0},
    "DecisionTreeClassifier": {"random_state": 0},
    "DecisionTreeRegressor": {"random_state": 0},
    "LGBMClassifier": {"n_estimators": 10, "n_jobs": 1, "random_state": 0},
    "LGBMRegressor": {"n_estimators": 10, "n_jobs": 1, "random_state": 0},
    "XGBClassifier": {"n_estimators": 10, "n_jobs": 1, "random_state": 0},
    "XGBRegressor": {"n_estimators": 10, "n_jobs": 1, "random_state": 0},
}
ADAPTERS = [cls for cls in adapters.SAVABLE if cls is not adapters.Ensemble]
if not adapters.XGBOOST_AVAILABLE:
    ADAPTERS = [cls for cls in ADAPTERS if not cls.__name__.startswith("XGB")]


def _small(cls):
    return cls(**SMALL.get(cls.__name__, {}))


def _is_classifier(cls) -> bool:
    return "Regressor" not in cls.__name__


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    score = X[:, 0] + 0.5 * X[:, 1] ** 2
    labels = np.array(["ant", "bee", "cat"])[np.digitize(score, [-0.3, 0.8])]
    return X, labels, score + 0.1 * rng.normal(size=150)


# -- scikit-learn's estimator checks ----------------------------------------------------------------------------

# scikit-learn lists the same expected failures for its own forests (by class, so not for our subclasses).
WEIGHTS_ARE_NOT_REPEATS = "bootstrap / histogram binning: a weight of 2 is not the same as a repeated row"
EXPECTED_FAILURES = {
    "RandomForestClassifier": {
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS,
        "check_sample_weight_equivalence_on_sparse_data": WEIGHTS_ARE_NOT_REPEATS,
    },
    "XGBClassifier": {"check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS},
}


def _expected_failures(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [_small(cls) for cls in ADAPTERS if not cls.__name__.startswith(("RandomForest", "ExtraTrees"))]
    + [adapters.RandomForestClassifier(n_estimators=3, random_state=0)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_contract(estimator, check):
    check(estimator)


# -- same predictions as the wrapped library ---------------------------------------------------------------------

SKLEARN_PARENTS = {
    adapters.DecisionTreeClassifier: tree.DecisionTreeClassifier,
    adapters.DecisionTreeRegressor: tree.DecisionTreeRegressor,
    adapters.RandomForestClassifier: ensemble.RandomForestClassifier,
    adapters.RandomForestRegressor: ensemble.RandomForestRegressor,
    adapters.ExtraTreesClassifier: ensemble.ExtraTreesClassifier,
    adapters.ExtraTreesRegressor: ensemble.ExtraTreesRegressor,
    adapters.KNeighborsClassifier: neighbors.KNeighborsClassifier,
    adapters.KNeighborsRegressor: neighbors.KNeighborsRegressor,
    adapters.GaussianNB: naive_bayes.GaussianNB,
    adapters.QuadraticDiscriminantAnalysis: discriminant_analysis.QuadraticDiscriminantAnalysis,
    adapters.DummyClassifier: dummy.DummyClassifier,
    adapters.DummyRegressor: dummy.DummyRegressor,
}


def _library_twin(cls, params: dict, y: np.ndarray):
    """The wrapped library's own estimator with the same parameters, and the y it must be fitted on."""
    if cls in SKLEARN_PARENTS:
        return SKLEARN_PARENTS[cls](**params), y
    module = pytest.importorskip("lightgbm" if cls.__name__.startswith("LGBM") else "xgboost")
    twin = getattr(module, cls.__name__)(**params)
    return twin, np.unique(y, return_inverse=True)[1] if _is_classifier(cls) else y


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
def test_matches_the_wrapped_library(cls, data):
    X, labels, values = data
    y = labels if _is_classifier(cls) else values
    ours = _small(cls).fit(X, y)
    twin, y_twin = _library_twin(cls, ours.get_params(), y)
    twin.fit(X, y_twin)
    if _is_classifier(cls):
        if cls.__name__ == "XGBClassifier":  # its float32 rows, renormalised in float64 to sum to one
            np.testing.assert_allclose(ours.predict_proba(X), twin.predict_proba(X), rtol=1e-6)
        else:
            np.testing.assert_array_equal(ours.predict_proba(X), twin.predict_proba(X))
        expected = twin.predict(X) if cls in SKLEARN_PARENTS else ours.classes_[twin.predict(X)]
        np.testing.assert_array_equal(ours.predict(X), expected)
    else:
        np.testing.assert_array_equal(ours.predict(X), twin.predict(X))
    assert ours.score(X, y) > (0.5 if "Dummy" not in cls.__name__ else -0.01)


def test_lightgbm_class_weight_is_keyed_by_label(data):
    """LightGBM is fitted on class ids: a class_weight dict keyed by the labels must weigh the same rows as
    sample weights do (it raised KeyError: 'bee')."""
    pytest.importorskip("lightgbm")
    X, labels, _ = data
    weights = {"ant": 1.0, "bee": 5.0, "cat": 0.5}
    by_class = adapters.LGBMClassifier(n_estimators=10, class_weight=weights).fit(X, labels)
    by_row = adapters.LGBMClassifier(n_estimators=10).fit(
        X, labels, sample_weight=[weights[v] for v in labels]
    )
    np.testing.assert_allclose(by_class.predict_proba(X), by_row.predict_proba(X), rtol=1e-12)
    with pytest.raises(ValueError, match=r"class_weight names \['dog'\], which y does not hold"):
        adapters.LGBMClassifier(n_estimators=2, class_weight={"ant": 1.0, "dog": 2.0}).fit(X, labels)


BOOSTERS = [cls for cls in ADAPTERS if cls.__name__.startswith(("LGBM", "XGB"))]


@pytest.mark.parametrize("cls", BOOSTERS, ids=lambda c: c.__name__)
def test_boosters_give_the_wrapped_librarys_importances_and_class_count(cls, data, tmp_path):
    """feature_importances_ (and a classifier's n_classes_) as the library's own estimator gives them, fitted and
    loaded: LightGBM's split counts, XGBoost's normalised gains."""
    X, labels, values = data
    ours = _small(cls).fit(X, labels if _is_classifier(cls) else values)
    twin, y_twin = _library_twin(cls, ours.get_params(), labels if _is_classifier(cls) else values)
    twin.fit(X, y_twin)
    assert twin.feature_importances_.any()
    for model in (ours, _round_trip(ours, tmp_path)):
        assert model.feature_importances_.dtype == twin.feature_importances_.dtype
        np.testing.assert_array_equal(model.feature_importances_, twin.feature_importances_)
        if _is_classifier(cls):
            assert model.n_classes_ == twin.n_classes_ == 3
    assert not hasattr(_small(cls), "feature_importances_")


# -- saving -----------------------------------------------------------------------------------------------------


def _round_trip(estimator, tmp_path):
    path = io.save(estimator, tmp_path / "model")
    for file in path.iterdir():
        assert not file.read_bytes().startswith(b"\x80")  # the pickle protocol marker
    return io.load(path)


def _assert_same_predictions(loaded, estimator, X):
    assert type(loaded) is type(estimator)
    assert loaded.get_params(deep=False).keys() == estimator.get_params(deep=False).keys()
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
        np.testing.assert_array_equal(loaded.classes_, estimator.classes_)


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("labels", ["strings", "binary"])
def test_round_trip_gives_identical_predictions(cls, labels, data, tmp_path):
    X, names, values = data
    if not _is_classifier(cls) and labels == "binary":
        pytest.skip("one regression round trip is enough")
    y = (names if labels == "strings" else names == "ant") if _is_classifier(cls) else values
    estimator = _small(cls).fit(X, y)
    _assert_same_predictions(_round_trip(estimator, tmp_path), estimator, X)


def test_forest_is_stored_as_tree_arrays(data, tmp_path):
    X, names, _ = data
    forest = adapters.RandomForestClassifier(n_estimators=4, random_state=0).fit(X, names)
    path = io.save(forest, tmp_path / "forest")
    loaded = io.load(path)
    for ours, theirs in zip(loaded.estimators_, forest.estimators_, strict=True):
        before, after = theirs.tree_.__getstate__(), ours.tree_.__getstate__()
        assert before["node_count"] == after["node_count"]
        assert before["nodes"].tobytes() == after["nodes"].tobytes()
        np.testing.assert_array_equal(before["values"], after["values"])
    meta = json.loads((path / "meta.json").read_text())
    assert len(meta["attributes"]["dict"]["estimators_"]["list"]) == 4


def test_booster_native_model_text_is_kept(data, tmp_path):
    X, names, _ = data
    model = adapters.LGBMClassifier(n_estimators=5, n_jobs=1).fit(X, names)
    meta = json.loads((io.save(model, tmp_path / "lgbm") / "meta.json").read_text())
    text = meta["attributes"]["dict"]["booster_"]["value"]
    assert text == model.booster_.model_to_string() and text.startswith("tree\nversion=")


def test_xgboost_json_model_is_kept_and_needs_the_extra_to_load(data, tmp_path, monkeypatch):
    pytest.importorskip("xgboost")
    X, names, _ = data
    model = adapters.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, names)
    path = io.save(model, tmp_path / "xgb")
    text = json.loads((path / "meta.json").read_text())["attributes"]["dict"]["booster_"]["value"]
    assert "learner" in json.loads(text)
    monkeypatch.setitem(sys.modules, "xgboost", None)  # as if the extra were not installed
    with pytest.raises(
        ArtifactError, match=r"cannot restore the fitted XGBClassifier.*fieldguide\[xgboost\]"
    ):
        io.load(path)


def test_unfitted_adapter_is_not_saved(tmp_path):
    with pytest.raises(ArtifactError, match="not fitted"):
        io.save(adapters.RandomForestClassifier(), tmp_path / "forest")


def test_corrupt_tree_state_is_refused(data, tmp_path):
    X, names, _ = data
    path = io.save(adapters.DecisionTreeClassifier(random_state=0).fit(X, names), tmp_path / "tree")
    meta = json.loads((path / "meta.json").read_text())
    del meta["attributes"]["dict"]["tree_"]["dict"]["nodes"]["dict"]["threshold"]
    _rewrite_meta(path, meta)
    with pytest.raises(ArtifactError, match="cannot restore the fitted DecisionTreeClassifier"):
        io.load(path)


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
def test_round_trip_keeps_feature_names(cls, data, tmp_path):
    """A model fitted on a DataFrame refuses one with its columns reordered or renamed, loaded as well as fitted
    (kNN, refitted on load from its arrays, forgot the names and predicted such a frame wrong with a warning)."""
    pd = pytest.importorskip("pandas")
    X, names, values = data
    frame = pd.DataFrame(X, columns=["w", "x", "y", "z"])
    estimator = _small(cls).fit(frame, names if _is_classifier(cls) else values)
    loaded = _round_trip(estimator, tmp_path)
    assert loaded.feature_names_in_.tolist() == estimator.feature_names_in_.tolist() == ["w", "x", "y", "z"]
    assert loaded.n_features_in_ == estimator.n_features_in_ == 4
    np.testing.assert_array_equal(loaded.predict(frame), estimator.predict(frame))
    if "Dummy" in cls.__name__:
        return  # a dummy never reads X, fitted or loaded
    reordered, renamed = frame[["z", "y", "x", "w"]], frame.set_axis(["w", "x", "y", "v"], axis=1)
    for model in (estimator, loaded):
        for wrong in (reordered, renamed):
            with pytest.raises(ValueError, match="feature names should match those that were passed"):
                model.predict(wrong)


FORGED_NAMES = [
    ({"strings": ["w", "x", "y"], "dtype": "object"}, "array(['w', 'x', 'y'], dtype=object)"),
    ({"list": [{"value": "w"}, {"value": "x"}, {"value": "y"}, {"value": 4}]}, "['w', 'x', 'y', 4]"),
    ({"value": "wxyz"}, "'wxyz'"),
]


# kNN (refitted on load) and one adapter of each other kind (tree, plain attributes, booster)
NAMED = [
    adapters.KNeighborsRegressor,
    adapters.DecisionTreeClassifier,
    adapters.GaussianNB,
    adapters.LGBMRegressor,
]


@pytest.mark.parametrize("cls", NAMED, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("forged", "found"), FORGED_NAMES, ids=["too few", "not strings", "a string"])
def test_forged_feature_names_are_refused(cls, forged, found, data, tmp_path):
    pd = pytest.importorskip("pandas")
    X, names, values = data
    model = _small(cls).fit(pd.DataFrame(X, columns=list("wxyz")), names if _is_classifier(cls) else values)
    path = io.save(model, tmp_path / "model")
    meta = json.loads((path / "meta.json").read_text())
    meta["attributes"]["dict"]["feature_names_in_"] = forged
    _rewrite_meta(path, meta)
    expected = f"feature_names_in_ must be a list of 4 strings (n_features_in_), found {found}"
    with pytest.raises(ArtifactError, match=re.escape(expected)):
        io.load(path)


def _rewrite_meta(path, meta):
    (path / "meta.json").write_text(json.dumps(meta))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["meta.json"] = sha256_file(path / "meta.json")
    (path / "manifest.json").write_text(json.dumps(manifest))


# -- ensembles --------------------------------------------------------------------------------------------------


PROBABILISTIC = [
    LogisticRegression,
    lambda: MLPClassifier(max_iter=5),
    lambda: FactorizationMachineClassifier(max_iter=5),
    *[
        cls
        for cls in ADAPTERS
        if cls.__name__.endswith("Classifier") and cls.__name__[:4] in ("LGBM", "XGBC")
    ],
]


@pytest.mark.parametrize("make", PROBABILISTIC, ids=lambda m: m().__class__.__name__)
def test_class_probabilities_sum_to_one_in_float64(make):
    # a float32 softmax over 26 classes sums to 1 ± 2e-7: scikit-learn's log_loss (and compare) warned on every fold
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 8))
    y = (X[:, :3] @ rng.normal(size=(3, 26))).argmax(axis=1)
    model = make().fit(X, y)
    proba = model.predict_proba(X)
    assert proba.dtype == np.float64 and proba.shape == (600, len(model.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=8 * np.finfo(np.float64).eps)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        log_loss(y, proba, labels=model.classes_)


def test_ensemble_is_the_weighted_average_of_its_members(data):
    X, names, values = data
    members = [
        adapters.KNeighborsClassifier(),
        adapters.GaussianNB(),
        adapters.LGBMClassifier(n_estimators=10, n_jobs=1),
    ]
    both = adapters.Ensemble(members, weights=[2, 1, 1]).fit(X, names)
    expected = sum(
        w * m.fit(X, names).predict_proba(X) for w, m in zip([0.5, 0.25, 0.25], members, strict=True)
    )
    np.testing.assert_allclose(both.predict_proba(X), expected, rtol=1e-12)
    np.testing.assert_array_equal(both.predict(X), both.classes_[expected.argmax(axis=1)])
    regressors = [adapters.DecisionTreeRegressor(max_depth=3), adapters.KNeighborsRegressor()]
    average = adapters.Ensemble(regressors).fit(X, values)
    np.testing.assert_allclose(average.predict(X), (regressors[0].fit(X, values).predict(X) + regressors[1].fit(X, values).predict(X)) / 2, rtol=1e-6)  # fmt: skip
    assert average.score(X, values) > 0.5


def test_ensemble_round_trip_saves_members_recursively(data, tmp_path):
    X, names, _ = data
    members = [LogisticRegression(), adapters.RandomForestClassifier(n_estimators=3, random_state=0)]
    ensemble_ = adapters.Ensemble(members, weights=[1, 3]).fit(X, names)
    path = io.save(ensemble_, tmp_path / "ensemble")
    loaded = io.load(path)
    _assert_same_predictions(loaded, ensemble_, X)
    assert [type(m) for m in loaded.members] == [type(m) for m in members]
    meta = json.loads((path / "meta.json").read_text())
    member_classes = [m["estimator"]["class"] for m in meta["attributes"]["dict"]["members_"]["list"]]
    assert member_classes == ["LogisticRegression", "RandomForestClassifier"]


def test_ensemble_member_classes_are_allow_listed(data, tmp_path):
    X, names, _ = data
    path = io.save(adapters.Ensemble([adapters.GaussianNB()]).fit(X, names), tmp_path / "ensemble")
    meta = json.loads((path / "meta.json").read_text())
    meta["attributes"]["dict"]["members_"]["list"][0]["estimator"]["class"] = "subprocess.Popen"
    _rewrite_meta(path, meta)
    with pytest.raises(ArtifactError, match=r"'subprocess\.Popen' is not a fieldguide estimator"):
        io.load(path)


@pytest.mark.parametrize(
    ("members", "weights", "message"),
    [
        ([], None, "at least one"),
        ([LogisticRegression(), Ridge()], None, "all classifiers or all regressors"),
        ([LogisticRegression()], [1, 2], "weights must be 1 non-negative"),
        ([LogisticRegression(), adapters.GaussianNB()], [-1, 2], "non-negative"),
        ([LinearSVC()], None, "LinearSVC gives no probabilities"),
    ],
)
def test_ensemble_refuses_bad_members_and_weights(data, members, weights, message):
    X, names, _ = data
    with pytest.raises(ValueError, match=message):
        adapters.Ensemble(members, weights).fit(X, names)


# -- the zoo table ----------------------------------------------------------------------------------------------

KINDS = {"float", "log_float", "int", "log_int", "categorical"}


@pytest.mark.parametrize("entry", ZOO, ids=lambda e: e.name)
def test_space_is_plain_data_over_real_parameters(entry):
    params = entry.estimator().get_params(deep=False)
    for name, spec in entry.space.items():
        assert name in params, f"{entry.name}: {name} is not a parameter"
        kind, *bounds = spec
        assert kind in KINDS
        if kind == "categorical":
            assert len(bounds) == 1 and len(bounds[0]) >= 2
        else:
            low, high = bounds
            assert low < high and (low > 0 or not kind.startswith("log"))
            assert isinstance(low, int) == kind.endswith("int")
    assert 0 <= entry.complexity <= 4


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__name__)
def test_adapters_fit_at_the_edges_of_their_space(cls, data):
    X, names, values = data
    space = next(entry.space for entry in ZOO if entry.estimator is cls)
    edges = [{name: spec[1][0] if spec[0] == "categorical" else spec[1] for name, spec in space.items()}]
    edges.append({name: spec[1][-1] if spec[0] == "categorical" else spec[2] for name, spec in space.items()})
    for params in edges:
        params = {**params, **{k: v for k, v in SMALL.get(cls.__name__, {}).items() if k != "n_estimators"}}
        if "n_estimators" in params:
            params["n_estimators"] = min(params["n_estimators"], 60)
        cls(**params).fit(X, names if _is_classifier(cls) else values).predict(X[:3])


def test_complexity_orders_the_zoo():
    rank = {entry.name: entry.complexity for entry in ZOO}
    assert rank["DummyClassifier"] < rank["LogisticRegression"] < rank["GaussianNB"]
    assert rank["GaussianNB"] < rank["FactorizationMachineClassifier"] < rank["LGBMClassifier"]
    assert rank["MLPClassifier"] == rank["RandomForestClassifier"] == rank["LGBMClassifier"]
    assert (
        rank["KNeighborsRegressor"] == rank["DecisionTreeRegressor"] > rank["Ridge"] > rank["DummyRegressor"]
    )


def test_zoo_lists_xgboost_only_when_installed():
    names = {entry.name for entry in ZOO}
    assert ({"XGBClassifier", "XGBRegressor"} <= names) == adapters.XGBOOST_AVAILABLE
    assert {"LGBMClassifier", "LGBMRegressor", "DummyClassifier", "DummyRegressor"} <= names


@pytest.mark.parametrize("cls", BOOSTERS, ids=lambda c: c.__name__)
def test_a_booster_names_a_text_or_category_column(cls, data, tmp_path):
    """A pandas category column: the boosters said only "could not convert string to float: 'x'"."""
    pd = pytest.importorskip("pandas")
    X, labels, values = data
    y = labels if _is_classifier(cls) else values
    frame = pd.DataFrame({"a": X[:, 0], "shop": pd.Categorical(np.resize(["x", "y", "z"], len(X)))})
    expected = f"X column 'shop' holds str values such as 'x': {cls.__name__} needs numeric columns"
    with pytest.raises(DataError, match=re.escape(expected)):
        _small(cls).fit(frame, y)
    fitted = _small(cls).fit(frame[["a"]].assign(shop=1.0), y)
    with pytest.raises(DataError, match=re.escape(expected)):
        fitted.predict(frame)
