"""Checks on the structures a saved adapter hands to native code: scikit-learn's trees, LightGBM's model text and
XGBoost's JSON model.

Those libraries trust their own files: a child index past the end of a tree reads outside its arrays (a crash), a
child that points back up loops for ever, a split on feature 10**8 reads past the row, and a LightGBM tree whose
size disagrees with the header's ``tree_sizes`` aborts the process from inside a parallel loop. A bundle's checksum
only proves the file is the one its manifest names, so before any of these structures reaches the library, every
index is checked here: a split node's children are later nodes of the same tree (so every walk ends at a leaf),
its feature is one of the estimator's columns, and the counts in the header agree with the trees. Categorical
splits and linear leaves, which the adapters never fit, are refused rather than checked. Each failure is a
``ValueError`` naming the tree, field and node.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

__all__ = ["check_lightgbm", "check_sklearn_tree", "check_xgboost"]


def _integer(value: Any, what: str, low: int = 0) -> int:
    """``value`` as an int >= ``low``; XGBoost's JSON writes its counts as text ("3")."""
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{what} must be an integer >= {low}, found {value!r:.60}")
    return int(value)


def _indices(values: Any, what: str, count: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (count,) or (count and array.dtype.kind not in "iu"):
        raise ValueError(f"{what} must hold {count} integers, found shape {array.shape} of {array.dtype}")
    return array.astype(np.int64)


def _check_walks(
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    split: np.ndarray,
    n_nodes: int,
    n_features: int,
    what: str,
    names: tuple[str, str, str],
) -> None:
    """Every split node's children are later nodes (``< n_nodes``) and its feature is a column."""
    node = np.arange(len(left))[split]
    for children, name in ((left[split], names[0]), (right[split], names[1])):
        bad = np.flatnonzero((children <= node) | (children >= n_nodes))
        if bad.size:
            raise ValueError(
                f"{what}: {name}[{node[bad[0]]}] points outside the tree or back up it; a split's children "
                "must be later nodes or leaves of the same tree"
            )
    bad = np.flatnonzero((feature[split] < 0) | (feature[split] >= n_features))
    if bad.size:
        raise ValueError(
            f"{what}: {names[2]}[{node[bad[0]]}] is {feature[split][bad[0]]}; the estimator has "
            f"{n_features} features (0..{n_features - 1})"
        )


def check_sklearn_tree(saved: dict, n_features: int, what: str = "tree_") -> None:
    """A saved ``Tree`` (see ``adapters._tree_state``) that scikit-learn can walk for rows of ``n_features``."""
    if not isinstance(saved, dict) or not isinstance(saved.get("nodes"), dict):
        raise ValueError(f"{what} must be a dict with a 'nodes' dict of node fields")
    if _integer(saved.get("n_features"), f"{what}.n_features") != n_features:
        raise ValueError(
            f"{what}.n_features is {saved['n_features']}; the estimator has {n_features} features"
        )
    n_outputs = _integer(saved.get("n_outputs"), f"{what}.n_outputs", low=1)
    n_classes = np.asarray(saved.get("n_classes"))
    if n_classes.shape != (n_outputs,) or n_classes.dtype.kind not in "iu" or (n_classes < 1).any():
        raise ValueError(f"{what}.n_classes must hold {n_outputs} counts >= 1, found {n_classes!r:.80}")
    count = _integer(saved.get("node_count"), f"{what}.node_count", low=1)
    _integer(saved.get("max_depth"), f"{what}.max_depth")
    nodes = saved["nodes"]
    left, right, feature = (
        _indices(nodes.get(name), f"{what}.nodes.{name}", count)
        for name in ("left_child", "right_child", "feature")
    )
    leaf = left == -1
    mixed = np.flatnonzero(leaf != (right == -1))
    if mixed.size:
        raise ValueError(
            f"{what}: node {mixed[0]} has left_child {left[mixed[0]]} and right_child {right[mixed[0]]}; "
            "a leaf has both -1, a split neither"
        )
    _check_walks(
        left, right, feature, ~leaf, count, n_features, what, ("left_child", "right_child", "feature")
    )


# -- LightGBM ------------------------------------------------------------------------------------------------

_LIGHTGBM_OBJECTIVES = {
    "regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma", "tweedie",
    "binary", "multiclass", "multiclassova", "cross_entropy", "cross_entropy_lambda",
}  # fmt: skip


def _key_values(block: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def _numbers(fields: dict[str, str], key: str, count: int, what: str) -> list[str]:
    values = fields.get(key, "").split()
    if len(values) != count:
        raise ValueError(f"{what}: {key} must hold {count} values, found {len(values)}")
    return values


def _lightgbm_tree(fields: dict[str, str], n_features: int, what: str) -> None:
    leaves = _integer(fields.get("num_leaves"), f"{what}: num_leaves", low=1)
    if _integer(fields.get("num_cat", "0"), f"{what}: num_cat") or fields.get("is_linear", "0") != "0":
        raise ValueError(
            f"{what}: categorical splits and linear leaves are not supported in a saved LightGBM model"
        )
    _numbers(fields, "leaf_value", leaves, what)
    if leaves == 1:
        return
    splits = leaves - 1
    try:
        left, right, feature, kind = (
            np.array(_numbers(fields, key, splits, what), dtype=np.int64)
            for key in ("left_child", "right_child", "split_feature", "decision_type")
        )
        np.array(_numbers(fields, "threshold", splits, what), dtype=np.float64)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{what}: {err}") from None
    if (kind & 1).any():
        raise ValueError(f"{what}: categorical splits are not supported in a saved LightGBM model")
    # A child >= 0 is a split node, a child < 0 the leaf ~child; leaves are mapped past the splits to check both.
    left, right = (np.where(c < 0, splits + np.minimum(~c, leaves), c) for c in (left, right))
    _check_walks(left, right, feature, np.ones(splits, bool), splits + leaves, n_features, what,
                 ("left_child", "right_child", "split_feature"))  # fmt: skip


def check_lightgbm(text: str, n_features: int, n_outputs: int) -> None:
    """A LightGBM model text that predicts ``n_outputs`` values per row from ``n_features`` columns."""
    if not isinstance(text, str) or "\nend of trees" not in text:
        raise ValueError("booster_ must be a LightGBM model text (it ends its trees with 'end of trees')")
    body = text[: text.index("\nend of trees") + 1]
    starts = [m.start() for m in re.finditer(r"^Tree=", body, flags=re.MULTILINE)]
    header = _key_values(body[: starts[0]] if starts else body)
    if _integer(header.get("max_feature_idx"), "booster_: max_feature_idx") != n_features - 1:
        raise ValueError(
            f"booster_: max_feature_idx is {header['max_feature_idx']}; expected {n_features - 1}"
        )
    for key in ("num_class", "num_tree_per_iteration"):
        if _integer(header.get(key), f"booster_: {key}", low=1) != n_outputs:
            raise ValueError(f"booster_: {key} is {header[key]}; expected {n_outputs}")
    objective, *options = header.get("objective", "").split()
    option = dict(o.split(":", 1) for o in options if ":" in o)
    if objective not in _LIGHTGBM_OBJECTIVES or option.get("num_class", str(n_outputs)) != str(n_outputs):
        raise ValueError(f"booster_: objective {header.get('objective')!r:.80} is not one fieldguide fits")
    if not starts or len(starts) % n_outputs:
        raise ValueError(f"booster_: holds {len(starts)} trees; expected a positive multiple of {n_outputs}")
    blocks = [body[a:b] for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]
    if "tree_sizes" in header:  # LightGBM seeks to these offsets from parallel threads: a wrong one aborts it
        sizes = header["tree_sizes"].split()
        actual = [str(len(block.encode())) for block in blocks]
        if sizes != actual:
            raise ValueError(f"booster_: tree_sizes {' '.join(sizes):.80} do not match the trees' sizes")
    for i, block in enumerate(blocks):
        fields = _key_values(block)
        if fields.get("Tree") != str(i):
            raise ValueError(f"booster_: tree {i} is labelled 'Tree={fields.get('Tree')!s:.20}'")
        _lightgbm_tree(fields, n_features, f"booster_ tree {i}")


# -- XGBoost -------------------------------------------------------------------------------------------------


def _xgboost_tree(tree: Any, n_features: int, what: str) -> None:
    if not isinstance(tree, dict) or not isinstance(tree.get("tree_param"), dict):
        raise ValueError(f"{what} must be a dict with a 'tree_param' dict")
    param = tree["tree_param"]
    count = _integer(param.get("num_nodes"), f"{what}: num_nodes", low=1)
    if _integer(param.get("size_leaf_vector"), f"{what}: size_leaf_vector") > 1 or any(
        tree.get(key) for key in ("categories", "categories_nodes", "categories_segments", "categories_sizes")
    ):
        raise ValueError(
            f"{what}: categorical splits and vector leaves are not supported in a saved XGBoost model"
        )
    left, right, feature, parents, kind = (
        _indices(tree.get(key), f"{what}: {key}", count)
        for key in ("left_children", "right_children", "split_indices", "parents", "split_type")
    )
    for key in ("split_conditions", "default_left", "base_weights", "loss_changes", "sum_hessian"):
        if np.shape(tree.get(key)) != (count,):
            raise ValueError(f"{what}: {key} must hold {count} values")
    if kind.any():
        raise ValueError(f"{what}: categorical splits are not supported in a saved XGBoost model")
    leaf = left == -1
    if (leaf != (right == -1)).any():
        raise ValueError(f"{what}: node {np.flatnonzero(leaf != (right == -1))[0]} has exactly one child")
    _check_walks(left, right, feature, ~leaf, count, n_features, what,
                 ("left_children", "right_children", "split_indices"))  # fmt: skip
    if ((parents < 0) | (parents >= count))[1:].any():
        raise ValueError(f"{what}: parents must be nodes of the tree (0..{count - 1}) below the root")


def check_xgboost(text: str, n_features: int, n_classes: int) -> None:
    """An XGBoost JSON model of a gbtree booster over ``n_features`` columns (``n_classes`` 0 unless multiclass)."""
    try:
        learner = json.loads(text)["learner"]
        param, booster = learner["learner_model_param"], learner["gradient_booster"]
        model = booster["model"]
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"booster_ is not an XGBoost JSON model ({type(err).__name__}: {err!s:.80})"
        ) from None
    if booster.get("name") != "gbtree":
        raise ValueError(
            f"booster_: the booster is {booster.get('name')!r:.40}; fieldguide saves 'gbtree' models"
        )
    for key, expected in (("num_feature", n_features), ("num_class", n_classes), ("num_target", 1)):
        found = param.get(key, "1" if key == "num_target" else None)  # absent from older models: one target
        if _integer(found, f"booster_: learner_model_param.{key}") != expected:
            raise ValueError(
                f"booster_: learner_model_param.{key} is {param.get(key)!r:.40}; expected {expected}"
            )
    objective = learner.get("objective") if isinstance(learner.get("objective"), dict) else {}
    classes = (objective.get("softmax_multiclass_param") or {}).get("num_class", str(n_classes))
    if _integer(classes, "booster_: objective num_class") != n_classes:
        raise ValueError(f"booster_: the objective's num_class is {classes!r:.40}; expected {n_classes}")
    if any((model.get("cats") or {}).values()):
        raise ValueError("booster_: categorical encodings are not supported in a saved XGBoost model")
    trees = model.get("trees")
    if not isinstance(trees, list):
        raise ValueError("booster_: model.trees must be a list")
    count = len(trees)
    gbtree = model.get("gbtree_model_param") or {}
    if _integer(gbtree.get("num_trees"), "booster_: num_trees") != count:
        raise ValueError(
            f"booster_: num_trees is {gbtree.get('num_trees')!r:.40}; the model holds {count} trees"
        )
    groups = _indices(model.get("tree_info"), "booster_: tree_info", count)
    if ((groups < 0) | (groups >= max(n_classes, 1))).any():
        raise ValueError(f"booster_: tree_info must name output groups 0..{max(n_classes, 1) - 1}")
    indptr = np.asarray(model.get("iteration_indptr", [0, count]))  # which trees form each round, when given
    if (
        indptr.ndim != 1
        or indptr.dtype.kind not in "iu"
        or indptr[:1].tolist() != [0]
        or indptr[-1] != count
        or (np.diff(indptr) < 0).any()
    ):
        raise ValueError(f"booster_: iteration_indptr must rise from 0 to the number of trees ({count})")
    for i, tree in enumerate(trees):
        _xgboost_tree(tree, n_features, f"booster_ tree {i}")
