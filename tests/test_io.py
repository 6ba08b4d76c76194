"""Saving and loading estimators: identical predictions, and every kind of tampering refused."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
import stat

import jax
import numpy as np
import pytest
import safetensors.numpy
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


def test_a_bundle_holds_the_parameters_the_model_was_fitted_with(tmp_path):
    """set_params after a fit changes neither the predictions nor the bundle until a refit."""
    X = np.random.default_rng(3).normal(size=(60, 3))
    y = (X[:, 0] + 0.5 > 0).astype(int)
    model = models.LogisticRegression(C=0.1).fit(X, y)
    expected = model.predict_proba(X)
    model.set_params(C=100.0, fit_intercept=False)
    loaded = io.load(io.save(model, tmp_path / "pending"))
    assert (loaded.C, loaded.fit_intercept) == (0.1, True)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    refitted = io.load(io.save(model.fit(X, y), tmp_path / "refitted"))
    assert (refitted.C, refitted.fit_intercept) == (100.0, False)


def test_a_bundle_with_a_retired_parameter_still_loads(tmp_path):
    """QuantileRegressor's learning_rate_init went with its Adam solver; bundles written before still load."""
    X = np.random.default_rng(4).normal(size=(50, 2))
    model = models.QuantileRegressor(alpha=0.0).fit(X, X @ [1.0, -1.0])
    path = io.save(model, tmp_path / "quantile")
    _rewrite_meta(path, lambda meta: meta["params"]["dict"].update(learning_rate_init={"value": 0.05}))
    np.testing.assert_array_equal(io.load(path).predict(X), model.predict(X))
    _rewrite_meta(path, lambda meta: meta["params"]["dict"].update(learning_rate={"value": 0.05}))
    with pytest.raises(ArtifactError, match="parameters do not fit QuantileRegressor"):
        io.load(path)


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


def _write_meta_text(path, text):
    (path / "meta.json").write_text(text)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["meta.json"] = sha256_bytes(text.encode())
    (path / "manifest.json").write_text(json.dumps(manifest))


def _rewrite_tensors(path, edit):
    """Edit the arrays and update the manifest's checksum."""
    tensors = safetensors.numpy.load_file(path / "tensors.safetensors")
    edit(tensors)
    data = safetensors.numpy.save(tensors)
    (path / "tensors.safetensors").write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["tensors.safetensors"] = sha256_bytes(data)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _set_manifest(key, value):
    def edit(path):
        manifest = json.loads((path / "manifest.json").read_text())
        manifest[key] = value
        (path / "manifest.json").write_text(json.dumps(manifest))

    return edit


def _param(name, node):
    return lambda meta: meta["params"]["dict"].__setitem__(name, node)


def _coef(edit):
    return lambda tensors: tensors.__setitem__(
        "attributes.params_.coef", edit(tensors["attributes.params_.coef"])
    )


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
    ("format version 0", _set_manifest("format_version", 0), "expected format_version 1 to 1, found 0"),
    (
        "format version true",
        _set_manifest("format_version", True),
        "expected format_version 1 to 1, found True",
    ),
    (
        "class as a list",
        lambda p: _rewrite_meta(p, _set_class(["Ridge"])),
        "class ['Ridge'] is not a fieldguide",
    ),
    (
        "params as a list",
        lambda p: _rewrite_meta(p, lambda m: m.__setitem__("params", {"list": 5})),
        "holds a int",
    ),
    ("tensor named by a list", lambda p: _rewrite_meta(p, _param("alpha", {"tensor": [1]})), "holds a list"),
    (
        "ragged strings",
        lambda p: _rewrite_meta(p, _param("alpha", {"strings": ["a", ["b"]], "dtype": "<U1"})),
        "more than strings",
    ),
    (
        "two kinds in one entry",
        lambda p: _rewrite_meta(p, _param("alpha", {"value": 1, "list": []})),
        "malformed entry",
    ),
    (
        "deep nesting",
        lambda p: _write_meta_text(
            p, '{"kind": "estimator", "class": "Ridge", "params": ' + "[" * 10**5 + "]" * 10**5
        ),
        "nested too deeply",
    ),
    (
        "a property set",
        lambda p: _rewrite_meta(p, lambda m: m["attributes"]["dict"].update({"coef_": {"value": 1}})),
        "cannot restore the fitted Ridge",
    ),
    (
        "no attributes",
        lambda p: _rewrite_meta(p, lambda m: m["attributes"]["dict"].clear()),
        "holds no learned attributes",
    ),
    (
        "coefficients as integers",
        lambda p: _rewrite_tensors(p, _coef(lambda c: c.view(np.int32))),
        r"params_ should be float32 arrays",
    ),
    (
        "coefficients reshaped",
        lambda p: _rewrite_tensors(p, _coef(lambda c: np.concatenate([c, c]))),
        r"params_ should be float32 arrays",
    ),
    ("an unlisted file", lambda p: (p / "extra.py").write_text("import os"), "extra.py: not in the manifest"),
    (
        "tensors replaced by a pipe",
        lambda p: ((p / "tensors.safetensors").unlink(), os.mkfifo(p / "tensors.safetensors")),
        "tensors.safetensors: not a regular file",
    ),
    (
        "tensors linked to /dev/zero",
        lambda p: ((p / "tensors.safetensors").unlink(), (p / "tensors.safetensors").symlink_to("/dev/zero")),
        "tensors.safetensors: a symbolic link",
    ),
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
    with pytest.raises(ArtifactError, match=re.escape(message)) as err:
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


def test_bundle_is_readable_as_the_umask_allows(ridge, tmp_path):
    path = io.save(ridge, tmp_path / "model")
    mask = os.umask(0)
    os.umask(mask)
    assert (
        stat.S_IMODE(path.stat().st_mode) == 0o777 & ~mask
    )  # not mkdtemp's 0700: a server may run as another user
    assert {stat.S_IMODE(f.stat().st_mode) for f in path.iterdir()} == {0o666 & ~mask}


def test_save_errors_name_the_path(ridge, tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ArtifactError, match="dangling: already exists"):
        io.save(ridge, tmp_path / "dangling")
    (tmp_path / "file").write_text("")
    with pytest.raises(ArtifactError, match="file/model: cannot write the bundle"):
        io.save(ridge, tmp_path / "file" / "model")
    with pytest.raises(ArtifactError, match="cannot store the arrays"):
        io.write_bundle(tmp_path / "wide", {}, {"x": np.zeros(2, np.longdouble)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "file"]


def test_bundles_with_zero_dimensional_arrays_as_earlier_versions_wrote_them_still_load(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    huber = models.HuberRegressor().fit(X, X @ [1.0, 2.0, 3.0])
    path = io.save(huber, tmp_path / "huber")
    assert (
        safetensors.numpy.load_file(path / "tensors.safetensors")["attributes.params_.log_scale"].shape == ()
    )
    _rewrite_tensors(
        path,
        lambda t: t.__setitem__("attributes.params_.log_scale", t["attributes.params_.log_scale"].reshape(1)),
    )
    loaded = io.load(path)
    assert loaded.params_["log_scale"].shape == () and loaded.scale_ == huber.scale_
    np.testing.assert_array_equal(loaded.predict(X), huber.predict(X))


def _paths(node, prefix=()):
    """Every path into a JSON document, as tuples of keys and indices."""
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


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
        assert tensors_back[key].dtype == value.dtype and tensors_back[key].shape == value.shape
        np.testing.assert_array_equal(tensors_back[key], value)


@pytest.fixture(scope="module")
def classifier_bundle(tmp_path_factory):
    X = np.random.default_rng(2).normal(size=(30, 2))
    model = models.LogisticRegression().fit(X, np.array(["no", "yes", "maybe"])[np.arange(30) % 3])
    return io.save(model, tmp_path_factory.mktemp("fuzz") / "model")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_of_the_metadata_loads_or_is_refused_cleanly(classifier_bundle, tmp_path_factory, data):
    """Whatever an editor who recomputes the checksum puts anywhere in meta.json, loading gives an estimator or an
    ArtifactError: never another exception."""
    meta = json.loads((classifier_bundle / "meta.json").read_text())
    where = data.draw(st.sampled_from(list(_paths(meta))[1:]))
    value = data.draw(
        _json
        | st.dictionaries(
            st.sampled_from(["tensor", "value", "list", "dict", "strings", "dtype"]), _json, min_size=1
        )
    )
    *parents, last = where
    node = meta
    for key in parents:
        node = node[key]
    node[last] = value
    path = tmp_path_factory.mktemp("edited") / "model"
    shutil.copytree(classifier_bundle, path)
    _write_meta_text(path, json.dumps(meta))
    with contextlib.suppress(ArtifactError):  # refused with a message naming the file, or loaded
        io.load(path)


def test_string_labels_keep_their_width(tmp_path):
    """A multi-output forest writes every output's labels into an array of the first output's dtype: the
    first output's classes ('a', 'b') must come back as wide as they were stored, or 'other-label' reads 'o'."""
    from fieldguide.models.adapters import RandomForestClassifier

    X = np.random.default_rng(0).normal(size=(100, 3))
    Y = np.column_stack([np.where(X[:, 0] > 0, "a", "b"), np.where(X[:, 1] > 0, "long-label", "other-label")])
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    loaded = io.load(io.save(model, tmp_path / "forest"))
    assert [c.dtype for c in loaded.classes_] == [c.dtype for c in model.classes_]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("dtype", "found"), [("<U999999999", "'<U999999999'"), ("<U2", "'<U2'"), ("int64", "'int64'")]
)
def test_a_forged_string_width_is_refused(classifier_bundle, tmp_path, dtype, found):
    path = tmp_path / "model"
    shutil.copytree(classifier_bundle, path)
    _rewrite_meta(path, lambda m: m["attributes"]["dict"]["classes_"].update({"dtype": dtype}))
    with pytest.raises(
        ArtifactError, match=re.escape(f"width from 5 (its longest string) to 65536, found {found}")
    ):
        io.load(path)


# -- forged structures for native code: checked before scikit-learn, LightGBM or XGBoost walks them -------------


def _forge_tensor(suffix, index, value):
    """Set element ``index`` of the first tensor whose name ends with ``suffix``."""

    def edit(tensors):
        name = next(name for name in sorted(tensors) if name.endswith(suffix))
        tensors[name] = tensors[name].copy()
        tensors[name][index] = value

    return lambda path: _rewrite_tensors(path, edit)


def _forge_booster(edit):
    def forge(path):
        _rewrite_meta(path, lambda meta: meta["attributes"]["dict"]["booster_"].update(
            value=edit(meta["attributes"]["dict"]["booster_"]["value"])))  # fmt: skip

    return forge


def _lightgbm_field(tree, key, index, value, resize=True):
    """Set ``key``'s ``index``-th value in LightGBM tree ``tree``; ``resize`` fixes the header's tree_sizes too, as a
    forger who knows the format would."""

    def edit(text):
        head, _, rest = text.partition("\nTree=0\n")
        blocks = re.split(r"(?m)^(?=Tree=)", "Tree=0\n" + rest.partition("end of trees")[0])[1:]
        lines = blocks[tree].split("\n")
        i = next(k for k, line in enumerate(lines) if line.startswith(key + "="))
        values = lines[i].split("=", 1)[1].split()
        values[index] = str(value)
        lines[i] = f"{key}={' '.join(values)}"
        blocks[tree] = "\n".join(lines)
        if resize:
            sizes = " ".join(str(len(block.encode())) for block in blocks)
            head = re.sub(r"(?m)^tree_sizes=.*$", f"tree_sizes={sizes}", head)
        return head + "\n" + "".join(blocks) + "end of trees" + rest.partition("end of trees")[2]

    return edit


def _xgboost_field(key, index, value, tree=0):
    def edit(text):
        model = json.loads(text)
        trees = model["learner"]["gradient_booster"]["model"]
        target = trees if key == "tree_info" else trees["trees"][tree]
        target[key][index] = value
        return json.dumps(model)

    return edit


# (adapter, edit, what the error says). Unchecked, most of these crash the process (segfault, abort) or loop for
# ever in the library; the others read past its arrays or fail with an unrelated IndexError.
NATIVE_FORGERIES = [
    ("DecisionTreeClassifier", _forge_tensor("nodes.left_child", 0, 10**8), "left_child[0] points outside the tree"),
    ("DecisionTreeRegressor", _forge_tensor("nodes.right_child", 0, 0), "right_child[0] points outside the tree or back up"),
    ("DecisionTreeClassifier", _forge_tensor("nodes.feature", 0, 10**8), "feature[0] is 100000000; the estimator has 3"),
    ("RandomForestClassifier", _forge_tensor("nodes.feature", 0, 3), "feature[0] is 3; the estimator has 3 features"),
    ("LGBMClassifier", _forge_booster(_lightgbm_field(1, "left_child", 0, 10**5)), "tree 1: left_child[0] points"),
    ("LGBMClassifier", _forge_booster(_lightgbm_field(0, "left_child", 1, 0)), "tree 0: left_child[1] points"),
    ("LGBMRegressor", _forge_booster(_lightgbm_field(0, "right_child", 0, -99)), "tree 0: right_child[0] points"),
    ("LGBMRegressor", _forge_booster(_lightgbm_field(2, "split_feature", 0, 10**8)), "split_feature[0] is 100000000"),
    ("LGBMRegressor", _forge_booster(_lightgbm_field(0, "leaf_value", 0, "0.5 0.5", resize=False)), "tree_sizes"),
    ("LGBMClassifier", _forge_booster(lambda t: t.replace("num_class=1", "num_class=3")), "num_class is 3; expected 1"),
    ("XGBClassifier", _forge_booster(_xgboost_field("left_children", 0, 10**8)), "left_children[0] points outside"),
    ("XGBClassifier", _forge_booster(_xgboost_field("right_children", 0, 0)), "right_children[0] points outside"),
    ("XGBRegressor", _forge_booster(_xgboost_field("split_indices", 0, 10**8)), "split_indices[0] is 100000000"),
    ("XGBRegressor", _forge_booster(_xgboost_field("tree_info", 1, 7)), "tree_info must name output groups 0..0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("adapter", "forge", "message"), NATIVE_FORGERIES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_forged_tree_or_booster_is_refused_before_native_code_sees_it(adapter, forge, message, tmp_path):
    from fieldguide.models import adapters

    if adapter.startswith("XGB"):
        pytest.importorskip("xgboost")
    X = np.random.default_rng(0).normal(size=(200, 3))
    y = X[:, 0] + X[:, 1] if adapter.endswith("Regressor") else X[:, 0] > 0
    params = {"n_estimators": 3} if adapter.startswith(("LGBM", "XGB", "Random")) else {}
    model = getattr(adapters, adapter)(**params).fit(X, y)
    path = io.save(model, tmp_path / "model")
    np.testing.assert_array_equal(io.load(path).predict(X), model.predict(X))  # the genuine bundle passes
    forge(path)
    with pytest.raises(ArtifactError, match=re.escape(message)) as refused:
        io.load(path)
    assert str(path / "meta.json") in str(refused.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: models.MLPClassifier(hidden_layer_sizes=(4,), random_state=0),
        lambda: models.MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", random_state=0, dtype="float64"),
        lambda: models.MLPClassifier(
            hidden_layer_sizes=(4,), solver="sgd", learning_rate="invscaling", random_state=0
        ),
        lambda: models.FactorizationMachineClassifier(rank=2, random_state=0),
    ],
    ids=["adam", "sgd float64", "sgd invscaling", "fm"],
)
def test_a_loaded_model_carries_on_partial_fit_as_the_saved_one_would(make, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    saved = make()
    for _ in range(2):
        saved.partial_fit(X, y, classes=[0, 1])
    loaded = io.load(io.save(saved, tmp_path / "model"))
    for model in (saved, loaded):
        model.partial_fit(X, y)
    # Adam's moments and step count (SGD's momentum) and the shuffling key came back: the same epoch, bit for bit
    np.testing.assert_array_equal(*(np.concatenate([np.ravel(a) for a in jax.tree.leaves(m.params_)])
                                    for m in (loaded, saved)))  # fmt: skip
    assert loaded.loss_curve_ == saved.loss_curve_ and loaded.n_iter_ == 3


def test_a_regressors_target_units_survive_and_bad_ones_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = 1e5 + 3e4 * X[:, 0]
    model = models.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    path = io.save(model, tmp_path / "model")
    loaded = io.load(path)
    assert (loaded.target_shift_, loaded.target_scale_) == (model.target_shift_, model.target_scale_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    # a next epoch from the file goes on as the saved model's does, in the first fit's units
    np.testing.assert_array_equal(loaded.partial_fit(X, y).predict(X), model.partial_fit(X, y).predict(X))
    for bad in ({"value": -1.0}, {"value": "2"}, {"value": True}):
        _rewrite_meta(path, lambda m, bad=bad: m["attributes"]["dict"].update(target_scale_=bad))
        with pytest.raises(ArtifactError, match="target_shift_ and target_scale_ should be finite numbers"):
            io.load(path)
    # a bundle of an earlier version holds no map: its parameters were fitted to y as it is
    _rewrite_meta(
        path, lambda m: [m["attributes"]["dict"].pop(k) for k in ("target_shift_", "target_scale_")]
    )
    earlier = io.load(path)
    assert (earlier.target_shift_, earlier.target_scale_) == (0.0, 1.0)


def test_an_optimizer_state_that_does_not_fit_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    model = models.MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, X[:, 0])
    path = io.save(model, tmp_path / "model")
    name = "attributes.optimizer_state_.optimizer.0.0"  # Adam's step count
    assert name in safetensors.numpy.load_file(path / "tensors.safetensors")
    _rewrite_tensors(path, lambda t: t.__setitem__(name, np.zeros(3, np.int32)))
    with pytest.raises(
        ArtifactError, match=r"cannot restore the fitted MLPRegressor .*optimizer_state_ should hold"
    ):
        io.load(path)
    assert io.load(
        io.save(models.MLPRegressor(solver="lbfgs", max_iter=5).fit(X, X[:, 0]), tmp_path / "lbfgs")
    )


def test_a_poisson_mlp_keeps_its_loss_and_log_link(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.poisson(2.0, 200)
    model = models.MLPRegressor((4,), loss="poisson", max_iter=5, random_state=0).fit(X, y)
    loaded = io.load(io.save(model, tmp_path / "model"))
    assert loaded.loss == "poisson" and loaded.max_fun == 15000
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert (loaded.predict(X) > 0).all()
