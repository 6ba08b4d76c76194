"""Saving and loading estimators: identical predictions, and every kind of tampering refused."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fieldguide import io, models
from fieldguide._files import sha256_bytes
from fieldguide.errors import ArtifactError

FAST = {
    "QuantileRegressor": {"max_iter": 100},
    "MLPClassifier": {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0},
    "MLPRegressor": {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0},
    "FactorizationMachineClassifier": {"rank": 2, "max_iter": 3, "random_state": 0},
    "FactorizationMachineRegressor": {"rank": 2, "max_iter": 3, "random_state": 0},
}


def _fitted(entry: models.ZooEntry):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    if "multiclass" in entry.tasks:
        y = np.array(["ant", "bee", "cat", "dog"])[np.arange(40) % 4]
    else:
        y = np.exp(X[:, 0] / 2) if entry.target != "real" else X @ [1.0, -1.0, 0.5]
    return entry.estimator(**FAST.get(entry.name, {})).fit(X, y), X


@pytest.fixture(scope="module")
def ridge():
    X = np.random.default_rng(1).normal(size=(30, 2))
    return models.Ridge().fit(X, X @ [1.0, 2.0])


OWN = [entry for entry in models.ZOO if issubclass(entry.estimator, models.ZooEstimator)]


@pytest.mark.parametrize("entry", OWN, ids=lambda e: e.name)
def test_round_trip_gives_identical_predictions(entry, tmp_path):
    estimator, X = _fitted(entry)
    loaded = io.load(io.save(estimator, tmp_path / "model"))
    assert type(loaded) is type(estimator)
    assert loaded.get_params() == estimator.get_params()
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    np.testing.assert_array_equal(
        loaded.classes_ if hasattr(loaded, "classes_") else 0,
        estimator.classes_ if hasattr(estimator, "classes_") else 0,
    )
    assert pickle.loads(pickle.dumps(estimator)).predict(X).tolist() == estimator.predict(X).tolist()


def test_bundle_contains_no_pickle(ridge, tmp_path):
    path = io.save(ridge, tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "meta.json", "tensors.safetensors"]
    for file in path.iterdir():
        assert not file.read_bytes().startswith(b"\x80")  # the pickle protocol marker


def test_feature_names_survive(tmp_path):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"height": [1.0, 2.0, 3.0, 4.0], "width": [0.0, 1.0, 0.0, 1.0]})
    model = models.LinearRegression().fit(X, [1.0, 2.0, 3.0, 5.0])
    loaded = io.load(io.save(model, tmp_path / "m"))
    assert loaded.feature_names_in_.tolist() == ["height", "width"]


def _rewrite_meta(path, edit):
    """Edit meta.json and update the manifest's checksum, as an attacker who knows the format would."""
    meta = json.loads((path / "meta.json").read_text())
    edit(meta)
    data = json.dumps(meta).encode()
    (path / "meta.json").write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["meta.json"] = sha256_bytes(data)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_json(path):
    path.write_text(path.read_text().replace('"alpha"', '"alpha" ', 1))


def _set_class(name):
    return lambda meta: meta.__setitem__("class", name)


def _future_version(path):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = io.FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(manifest))


TAMPERING = [
    ("flipped tensor byte", lambda p: _flip_byte(p / "tensors.safetensors"), "tensors.safetensors: SHA-256"),
    ("edited JSON", lambda p: _edit_json(p / "meta.json"), "meta.json: SHA-256"),
    (
        "class os.system",
        lambda p: _rewrite_meta(p, _set_class("os.system")),
        "'os.system' is not a fieldguide",
    ),
    ("class pickle-ish", lambda p: _rewrite_meta(p, _set_class("__builtins__.eval")), "is not a fieldguide"),
    (
        "private attribute",
        lambda p: _rewrite_meta(p, lambda m: m["attributes"]["dict"].update({"__class__": {"value": "x"}})),
        "are not learned attributes",
    ),
    ("future format", _future_version, "format_version 2 is newer"),
    ("missing tensors", lambda p: (p / "tensors.safetensors").unlink(), "tensors.safetensors: missing"),
    ("missing manifest", lambda p: (p / "manifest.json").unlink(), "manifest.json: missing"),
    (
        "garbage manifest",
        lambda p: (p / "manifest.json").write_text("{not json"),
        "manifest.json: not valid JSON",
    ),
]


@pytest.mark.parametrize(("attack", "what", "message"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampered_bundle_is_refused(ridge, tmp_path, attack, what, message):
    path = io.save(ridge, tmp_path / "model")
    what(path)
    with pytest.raises(ArtifactError, match=message.replace("(", r"\(")) as err:
        io.load(path)
    assert str(path) in str(err.value)


def test_save_refuses_to_overwrite_and_unfitted(ridge, tmp_path):
    io.save(ridge, tmp_path / "model")
    with pytest.raises(ArtifactError, match="already exists"):
        io.save(ridge, tmp_path / "model")
    with pytest.raises(ArtifactError, match="not fitted"):
        io.save(models.Ridge(), tmp_path / "other")
    with pytest.raises(ArtifactError, match="only fieldguide estimators"):
        io.save(object(), tmp_path / "third")


_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    meta=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    tensors=st.dictionaries(st.text(min_size=1, max_size=6), _arrays, max_size=4),
)
def test_bundle_round_trip_property(tmp_path_factory, meta, tensors):
    path = tmp_path_factory.mktemp("bundle") / "b"
    io.write_bundle(path, meta, tensors)
    meta_back, tensors_back = io.read_bundle(path)
    assert meta_back == meta
    assert tensors_back.keys() == tensors.keys()
    for key, value in tensors.items():
        assert tensors_back[key].dtype == value.dtype
        np.testing.assert_array_equal(tensors_back[key], value)
