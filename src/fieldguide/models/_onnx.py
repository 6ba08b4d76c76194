"""The zoo as ONNX graphs: each fitted model becomes nodes that map a feature matrix to its outputs.

A zoo estimator's prediction is a JAX function of its parameters (``model.apply`` then the objective's link), so
it is traced to a jaxpr with a symbolic number of rows and translated primitive by primitive; everything that does
not depend on the rows (the parameters and what is computed from them alone) is folded into constants; a
primitive without a translation is named in the error. scikit-learn's models go through skl2onnx, XGBoost through
onnxmltools, LightGBM's trees are written here (compared in float64), an ``Ensemble`` is the weighted sum of its
members.

Imported only by an export: ``onnx`` and the converters are the ``onnx`` extra.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from fieldguide.errors import ExportError

OPSET = (
    15  # the newest default-domain opset onnxmltools writes (XGBoost); runtimes from onnxruntime 1.10 read it
)
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder with strings, the tree ensembles


class Graph:
    """Nodes and constants of one ONNX graph under construction; every tensor gets a fresh unique name."""

    def __init__(self) -> None:
        from onnx import numpy_helper

        self._from_array = numpy_helper.from_array
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self.x = ""  # the (rows, features) input of the zoo model being translated
        self._rows: dict[str, str] = {}
        self.opsets = {"": OPSET, "ai.onnx.ml": ML_OPSET}  # domains the nodes use, at the versions they need

    def rows(self) -> str:
        """The number of rows of ``x`` as a (1,) int64 tensor (its nodes are emitted once, when first needed)."""
        if self.x not in self._rows:
            first = (self.const([0], np.int64), self.const([1], np.int64))
            self._rows[self.x] = self.op("Slice", self.op("Shape", self.x), *first)
        return self._rows[self.x]

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, dtype: Any = None, hint: str = "const") -> str:
        array = np.asarray(value, dtype=dtype)
        if array.dtype.kind in "OU":
            array = array.astype(object)
        name = self.fresh(hint)
        self.initializers.append(self._from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", outputs: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, domain=domain, **attrs))
        return names[0] if outputs == 1 else names

    def embed(self, model: Any, inputs: dict[str, str], prefix: str) -> dict[str, str]:
        """Copy another ONNX model's nodes into this graph, its inputs wired to ``inputs`` (by its input names);
        returns its outputs' new names by their old ones."""
        import onnx
        from onnx import compose, version_converter

        for opset in model.opset_import:
            if opset.domain in ("", "ai.onnx") and opset.version < OPSET:
                model = version_converter.convert_version(model, OPSET)
                break
        for opset in model.opset_import:
            if opset.domain not in ("", "ai.onnx"):
                self.opsets[opset.domain] = max(self.opsets.get(opset.domain, 0), opset.version)
        model = compose.add_prefix(model, prefix)
        graph = model.graph
        for given in graph.input:
            old = given.name[len(prefix) :]
            self.nodes.append(onnx.helper.make_node("Identity", [inputs[old]], [given.name]))
        self.nodes.extend(graph.node)
        self.initializers.extend(graph.initializer)
        return {out.name[len(prefix) :]: out.name for out in graph.output}


class Outputs(NamedTuple):
    """A model's answer in the graph: ``kind`` is ``"value"`` ((n,) float64 predictions), ``"proba"`` ((n, k)
    float64 probabilities in ``classes_`` order) or ``"ids"`` ((n,) int64 indices into ``classes_``)."""

    kind: str
    name: str


def model_outputs(graph: Graph, model: Any, features: str, n_features: int) -> Outputs:
    """Nodes computing ``model``'s predictions from ``features`` ((n, n_features) float64); raises ExportError
    naming the model when it cannot be expressed."""
    from fieldguide.models._base import ZooEstimator
    from fieldguide.models.adapters import SKLEARN_ADAPTERS, Ensemble, _Boosting

    if isinstance(model, ZooEstimator):
        return _zoo(graph, model, features, n_features)
    if isinstance(model, Ensemble):
        return _ensemble(graph, model, features, n_features)
    if isinstance(model, _Boosting):
        return _boosting(graph, model, features, n_features)
    if isinstance(model, SKLEARN_ADAPTERS):
        return _sklearn(graph, model, features, n_features)
    raise ExportError(f"ONNX export: {type(model).__name__} is not a model of fieldguide's zoo")


# -- zoo estimators: the traced prediction -------------------------------------------------------------------------


def _zoo(graph: Graph, estimator: Any, features: str, n_features: int) -> Outputs:
    import jax
    from sklearn.base import is_classifier

    from fieldguide.core._learner import numerics
    from fieldguide.models._base import _predict

    fitted = estimator._as_fitted()
    classes = len(estimator.classes_) if is_classifier(estimator) else None
    probabilistic = classes is None or estimator._probabilistic
    objective = fitted._loss(classes) if probabilistic else None
    model, params = fitted._model(), estimator.params_
    with numerics(fitted.dtype):
        rows = jax.export.symbolic_shape("rows")[0]
        spec = jax.ShapeDtypeStruct((rows, n_features), np.dtype(fitted.dtype))
        closed = jax.make_jaxpr(lambda X: _predict(model, objective, params, X))(spec)
        graph.x = graph.op("Cast", features, to=_onnx_type(fitted.dtype))
        try:
            (out,) = _translate(graph, closed.jaxpr, closed.consts, [graph.x])
        except ExportError as err:
            raise ExportError(f"ONNX export of {type(estimator).__name__}: {err}") from None
    if isinstance(out, np.ndarray):
        raise ExportError(f"ONNX export of {type(estimator).__name__}: its prediction does not depend on X")
    out = graph.op("Cast", out, to=_onnx_type("float64"))
    flat = graph.const([-1], np.int64)
    if classes is None:
        return Outputs("value", graph.op("Reshape", out, flat))
    rank = len(closed.jaxpr.outvars[0].aval.shape)
    if not probabilistic:  # raw scores: positive means class 1 for one output, else the largest
        if closed.jaxpr.outvars[0].aval.shape[-1] == 1:
            positive = graph.op("Greater", graph.op("Reshape", out, flat), graph.const(0.0))
            return Outputs("ids", graph.op("Cast", positive, to=_onnx_type("int64")))
        return Outputs("ids", graph.op("ArgMax", out, axis=1, keepdims=0))
    if rank == 1 or closed.jaxpr.outvars[0].aval.shape[-1] == 1:  # P(class 1)
        p = graph.op("Reshape", out, graph.const([-1, 1], np.int64))
        return Outputs("proba", graph.op("Concat", graph.op("Sub", graph.const(1.0), p), p, axis=1))
    # rows renormalised in float64, as ZooClassifier.predict_proba does
    total = graph.op("ReduceSum", out, graph.const([1], np.int64), keepdims=1)
    return Outputs("proba", graph.op("Div", out, total))


_CALLS = (
    "jit",
    "pjit",
    "closed_call",
    "core_call",
    "custom_jvp_call",
    "custom_vjp_call",
    "remat",
    "checkpoint",
)
_UNARY = {
    "exp": "Exp",
    "log": "Log",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "neg": "Neg",
    "abs": "Abs",
    "sqrt": "Sqrt",
    "erf": "Erf",
    "sign": "Sign",
    "floor": "Floor",
    "ceil": "Ceil",
    "not": "Not",
    "stop_gradient": "Identity",
    "copy": "Identity",
    "optimization_barrier": "Identity",
}
_BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "max": "Max",
    "min": "Min",
    "pow": "Pow",
    "gt": "Greater",
    "lt": "Less",
    "ge": "GreaterOrEqual",
    "le": "LessOrEqual",
    "eq": "Equal",
    "and": "And",
    "or": "Or",
}
_REDUCE = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}


def _translate(graph: Graph, jaxpr: Any, consts: Sequence[Any], args: Sequence[Any]) -> list[Any]:
    """Emit ``jaxpr``'s equations; a value is a NumPy array (known without X: folded) or a tensor's name."""
    from jax.extend.core import Literal

    env: dict[Any, Any] = {}
    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = np.asarray(value)
    for var, value in zip(jaxpr.invars, args, strict=True):
        env[var] = value

    def read(atom: Any) -> Any:
        return np.asarray(atom.val) if isinstance(atom, Literal) else env[atom]

    for eqn in jaxpr.eqns:
        values = [read(atom) for atom in eqn.invars]
        name = eqn.primitive.name
        if name in _CALLS:
            inner = next(
                p for key in ("jaxpr", "call_jaxpr", "fun_jaxpr") if (p := eqn.params.get(key)) is not None
            )
            inner_jaxpr, inner_consts = (
                (inner.jaxpr, inner.consts) if hasattr(inner, "consts") else (inner, ())
            )
            outs = _translate(graph, inner_jaxpr, inner_consts, values[: len(inner_jaxpr.invars)])
        elif all(isinstance(v, np.ndarray) for v in values) and all(
            isinstance(d, int) for var in eqn.outvars for d in var.aval.shape
        ):
            result = eqn.primitive.bind(*values, **eqn.params)
            outs = [np.asarray(r) for r in result] if eqn.primitive.multiple_results else [np.asarray(result)]
        else:
            outs = [_emit(graph, eqn, values)]
        for var, value in zip(eqn.outvars, outs, strict=True):
            env[var] = value
    return [read(atom) for atom in jaxpr.outvars]


def _emit(graph: Graph, eqn: Any, values: list[Any]) -> str:
    """One equation with at least one input that depends on X, as ONNX nodes."""
    name, params = eqn.primitive.name, eqn.params
    dtypes = [atom.aval.dtype for atom in eqn.invars]
    ins = [
        v if isinstance(v, str) else graph.const(v, dtype) for v, dtype in zip(values, dtypes, strict=True)
    ]
    out_shape = eqn.outvars[0].aval.shape
    if name in _UNARY:
        return graph.op(_UNARY[name], ins[0])
    if name in _BINARY:
        return graph.op(_BINARY[name], *ins)
    if name == "ne":
        return graph.op("Not", graph.op("Equal", *ins))
    if name == "square":
        return graph.op("Mul", ins[0], ins[0])
    if name == "integer_pow":
        return graph.op("Pow", ins[0], graph.const(params["y"], dtypes[0]))
    if name == "rsqrt":
        return graph.op("Reciprocal", graph.op("Sqrt", ins[0]))
    if name == "log1p":
        return graph.op("Log", graph.op("Add", ins[0], graph.const(1, dtypes[0])))
    if name == "expm1":
        return graph.op("Sub", graph.op("Exp", ins[0]), graph.const(1, dtypes[0]))
    if name == "convert_element_type":
        return graph.op("Cast", ins[0], to=_onnx_type(params["new_dtype"]))
    if name == "select_n" and len(ins) == 3:  # select_n(pred, when_false, when_true)
        return graph.op("Where", ins[0], ins[2], ins[1])
    if name == "clamp":  # clamp(low, x, high)
        return graph.op("Max", graph.op("Min", ins[1], ins[2]), ins[0])
    if name in _REDUCE:
        axes = [int(a) for a in params["axes"]]
        if name == "reduce_sum":
            return graph.op("ReduceSum", ins[0], graph.const(axes, np.int64), keepdims=0)
        return graph.op(_REDUCE[name], ins[0], axes=axes, keepdims=0)
    if name == "argmax" and len(params["axes"]) == 1:
        found = graph.op("ArgMax", ins[0], axis=int(params["axes"][0]), keepdims=0)
        return graph.op("Cast", found, to=_onnx_type(params["index_dtype"]))
    if name == "dot_general":
        return _dot(graph, eqn, values, ins)
    if name == "broadcast_in_dim":
        kept = set(params["broadcast_dimensions"])
        missing = [axis for axis in range(len(out_shape)) if axis not in kept]
        x = graph.op("Unsqueeze", ins[0], graph.const(missing, np.int64)) if missing else ins[0]
        return graph.op("Expand", x, _shape(graph, out_shape))
    if name == "reshape" and params.get("dimensions") is None:
        return graph.op("Reshape", ins[0], graph.const(_static(out_shape, "reshape"), np.int64))
    if name == "squeeze":
        return graph.op("Squeeze", ins[0], graph.const(list(params["dimensions"]), np.int64))
    if name == "transpose":
        return graph.op("Transpose", ins[0], perm=list(params["permutation"]))
    if name == "concatenate":
        return graph.op("Concat", *ins, axis=int(params["dimension"]))
    if name == "gather":
        return _gather(graph, eqn, values, ins)
    raise ExportError(f"the JAX primitive {name!r} has no ONNX translation here")


def _shape(graph: Graph, shape: Sequence[Any]) -> str:
    """A shape as a tensor, its symbolic dimension (which must be the rows themselves) read from X."""
    if all(isinstance(d, int) for d in shape):
        return graph.const(list(shape), np.int64)
    if any(not isinstance(d, int) and str(d) != "rows" for d in shape):
        raise ExportError(f"a shape {shape} computed from the number of rows has no ONNX translation here")
    pieces = [graph.rows() if not isinstance(d, int) else graph.const([d], np.int64) for d in shape]
    return graph.op("Concat", *pieces, axis=0)


def _static(shape: Sequence[Any], what: str) -> list[int]:
    """A shape with its one symbolic dimension (the rows) as -1."""
    symbolic = [i for i, d in enumerate(shape) if not isinstance(d, int)]
    if len(symbolic) > 1:
        raise ExportError(f"{what} to {shape}: more than one dimension depends on the number of rows")
    return [d if isinstance(d, int) else -1 for d in shape]


def _dot(graph: Graph, eqn: Any, values: list[Any], ins: list[str]) -> str:
    """``dot_general`` without batch dimensions, contracting one axis of operands of rank 2 at most (MatMul)."""
    (left_axes, right_axes), (left_batch, right_batch) = eqn.params["dimension_numbers"]
    ranks = [len(atom.aval.shape) for atom in eqn.invars]
    if left_batch or right_batch or len(left_axes) != 1 or max(ranks) > 2:
        raise ExportError(
            f"dot_general {eqn.params['dimension_numbers']} on ranks {ranks} is not a matrix product"
        )
    left, right = ins
    if left_axes[0] != ranks[0] - 1:  # contract the left operand's last axis
        left = graph.op("Transpose", left, perm=[1, 0])
    if right_axes[0] != 0:  # and the right operand's first
        right = graph.op("Transpose", right, perm=[1, 0])
    return graph.op("MatMul", left, right)


def _gather(graph: Graph, eqn: Any, values: list[Any], ins: list[str]) -> str:
    """``x[..., i, ...]`` with a constant ``i`` (JAX's lowering of indexing one axis by a number)."""
    numbers = eqn.params["dimension_numbers"]
    index = values[1]
    collapsed = tuple(numbers.collapsed_slice_dims)
    if not (
        isinstance(index, np.ndarray)
        and index.size == 1
        and len(collapsed) == 1
        and tuple(numbers.start_index_map) == collapsed
        and not numbers.operand_batching_dims
    ):
        raise ExportError("gather other than indexing one axis by a constant has no ONNX translation here")
    return graph.op("Gather", ins[0], graph.const(int(index.reshape(())), np.int64), axis=collapsed[0])


def _onnx_type(dtype: Any) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


# -- adapters: the ecosystem's converters ----------------------------------------------------------------------------


def _converted(
    graph: Graph, convert: Callable[[], Any], features: str, model: Any, dtype: str = "float32"
) -> dict[str, str]:
    """Run a converter (its input ``X`` of ``dtype``) and copy its graph in; its failures become ExportError."""
    try:
        converted = convert()
    except ImportError as err:
        raise ExportError(
            f"ONNX export of {type(model).__name__} needs {err.name or 'its converter'}, of the onnx extra: "
            "pip install 'fieldguide[onnx]'"
        ) from None
    except Exception as err:  # the converters raise many types; name the model and pass the reason on
        raise ExportError(
            f"ONNX export of {type(model).__name__}: the converter failed ({err})"[:600]
        ) from None
    x = graph.op("Cast", features, to=_onnx_type(dtype))
    return graph.embed(converted, {converted.graph.input[0].name: x}, graph.fresh(type(model).__name__) + "/")


def _library_outputs(graph: Graph, outputs: dict[str, str], model: Any) -> Outputs:
    from sklearn.base import is_classifier

    if is_classifier(model):
        return Outputs("proba", graph.op("Cast", outputs["probabilities"], to=_onnx_type("float64")))
    (value,) = [name for old, name in outputs.items() if old != "label"]
    flat = graph.op("Reshape", value, graph.const([-1], np.int64))
    return Outputs("value", graph.op("Cast", flat, to=_onnx_type("float64")))


def _sklearn(graph: Graph, model: Any, features: str, n_features: int) -> Outputs:
    from sklearn.base import is_classifier

    from fieldguide.models.adapters import DummyClassifier, DummyRegressor, _Forest, _Tree

    if isinstance(model, DummyClassifier | DummyRegressor):
        return _dummy(graph, model, features)
    base = next(c for c in type(model).__mro__ if c.__module__.startswith("sklearn."))
    plain = base.__new__(base)  # the adapter's state on scikit-learn's own class, which skl2onnx knows
    plain.__dict__.update(model.__dict__)

    # trees compare float32 thresholds (as scikit-learn does); the others compute in float64, as scikit-learn does
    dtype = "float32" if isinstance(model, _Tree | _Forest) else "float64"

    def convert() -> Any:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        options = {"zipmap": False} if is_classifier(model) else None
        tensor = FloatTensorType if dtype == "float32" else DoubleTensorType
        return to_onnx(
            plain,
            initial_types=[("X", tensor([None, n_features]))],
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
            options=options,
        )

    outputs = _converted(graph, convert, features, model, dtype)
    return _library_outputs(graph, outputs, model)


def _dummy(graph: Graph, model: Any, features: str) -> Outputs:
    """A constant answer per row: the class prior (or the most frequent class), or the constant."""
    from sklearn.base import is_classifier

    rows = graph.op("Shape", features)
    rows = graph.op("Slice", rows, graph.const([0], np.int64), graph.const([1], np.int64))
    if is_classifier(model):
        if model.strategy not in ("prior", "most_frequent"):
            raise ExportError(f"ONNX export of DummyClassifier: strategy {model.strategy!r} is random")
        prior = np.asarray(model.class_prior_, np.float64)
        if model.strategy == "most_frequent":
            prior = np.eye(len(prior))[prior.argmax()]
        shape = graph.op("Concat", rows, graph.const([len(prior)], np.int64), axis=0)
        return Outputs("proba", graph.op("Expand", graph.const(prior[None, :]), shape))
    constant = np.asarray(model.constant_, np.float64).reshape(1)
    return Outputs("value", graph.op("Expand", graph.const(constant), rows))


def _boosting(graph: Graph, model: Any, features: str, n_features: int) -> Outputs:
    """XGBoost through onnxmltools (XGBoost compares float32 features with float32 thresholds, as the ONNX tree
    ensemble does); LightGBM by :func:`_lightgbm`."""

    from fieldguide.models.adapters import _LightGBM

    if isinstance(model, _LightGBM):
        return _lightgbm(graph, model, features)

    def convert() -> Any:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        types = [("X", FloatTensorType([None, n_features]))]
        return onnxmltools.convert_xgboost(model.booster_, initial_types=types, target_opset=OPSET)

    outputs = _converted(graph, convert, features, model)
    return _library_outputs(graph, outputs, model)


_LGBM_IDENTITY = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
_LGBM_EXP = {"poisson", "gamma", "tweedie"}


def _lightgbm(graph: Graph, model: Any, features: str) -> Outputs:
    """A LightGBM booster as one ``TreeEnsembleRegressor`` (ai.onnx.ml 3) that compares the float64 features with
    LightGBM's float64 thresholds, as LightGBM does: onnxmltools' converter compares in float32, so a feature
    within float32 rounding of a split (1 row in 5,000 of a churn table) fell in the other leaf. Then the
    objective's link: sigmoid, softmax, or exp."""
    from onnx import numpy_helper

    name = type(model).__name__
    dump = model.booster_.dump_model()
    objective = dump.get("objective", "regression").split()
    per_round = int(dump.get("num_tree_per_iteration", 1))
    nodes: dict[str, list] = {
        key: [] for key in ("tree", "node", "feature", "mode", "true", "false", "missing")
    }
    values: list[float] = []
    leaves: dict[str, list] = {"tree": [], "node": [], "target": []}
    weights: list[float] = []

    def walk(tree: int, node: dict, target: int, ids: itertools.count) -> int:
        me = next(ids)  # node ids count from 0 within each tree, in depth-first order
        for key in nodes:
            nodes[key].append(0)
        nodes["tree"][-1], nodes["node"][-1] = tree, me
        values.append(0.0)
        if "leaf_value" in node:
            nodes["mode"][-1] = "LEAF"
            for key, value in (("tree", tree), ("node", me), ("target", target)):
                leaves[key].append(value)
            weights.append(float(node["leaf_value"]))
            return me
        if node.get("decision_type") != "<=" or node.get("missing_type") == "Zero":
            raise ExportError(
                f"ONNX export of {name}: a split of type {node.get('decision_type')!r} with missing values as "
                f"{node.get('missing_type')!r} has no ONNX form here"
            )
        row = len(values) - 1
        nodes["mode"][row], nodes["feature"][row] = "BRANCH_LEQ", int(node["split_feature"])
        values[row] = float(node["threshold"])
        nodes["missing"][row] = int(bool(node.get("default_left")))  # the true branch is the left one
        nodes["true"][row] = walk(tree, node["left_child"], target, ids)
        nodes["false"][row] = walk(tree, node["right_child"], target, ids)
        return me

    for index, tree in enumerate(dump["tree_info"]):
        walk(index, tree["tree_structure"], index % per_round, itertools.count())
    raw = graph.op(
        "TreeEnsembleRegressor",
        features,
        domain="ai.onnx.ml",
        n_targets=per_round,
        aggregate_function="SUM",
        nodes_treeids=nodes["tree"],
        nodes_nodeids=nodes["node"],
        nodes_featureids=nodes["feature"],
        nodes_modes=nodes["mode"],
        nodes_truenodeids=nodes["true"],
        nodes_falsenodeids=nodes["false"],
        nodes_missing_value_tracks_true=nodes["missing"],
        nodes_values_as_tensor=numpy_helper.from_array(np.asarray(values, np.float64)),
        target_treeids=leaves["tree"],
        target_nodeids=leaves["node"],
        target_ids=leaves["target"],
        target_weights_as_tensor=numpy_helper.from_array(np.asarray(weights, np.float64)),
    )
    graph.opsets["ai.onnx.ml"] = max(graph.opsets["ai.onnx.ml"], 3)  # the *_as_tensor attributes
    raw = graph.op("Cast", raw, to=_onnx_type("float64"))  # the ensemble's sums are float32
    if dump.get("average_output"):  # random-forest mode averages its rounds
        raw = graph.op("Div", raw, graph.const(float(len(dump["tree_info"]) // per_round)))
    kind = objective[0]
    if kind in ("binary", "multiclassova"):
        scale = next((float(o.split(":")[1]) for o in objective if o.startswith("sigmoid:")), 1.0)
        p = graph.op("Sigmoid", graph.op("Mul", raw, graph.const(scale)))
        if kind == "multiclassova":
            return Outputs("proba", p)
        return Outputs("proba", graph.op("Concat", graph.op("Sub", graph.const(1.0), p), p, axis=1))
    if kind == "multiclass":
        return Outputs("proba", graph.op("Softmax", raw, axis=1))
    flat = graph.op("Reshape", raw, graph.const([-1], np.int64))
    if kind in _LGBM_EXP:
        return Outputs("value", graph.op("Exp", flat))
    if kind in _LGBM_IDENTITY:
        return Outputs("value", flat)
    raise ExportError(f"ONNX export of {name}: LightGBM's objective {kind!r} has no link here")


def _ensemble(graph: Graph, model: Any, features: str, n_features: int) -> Outputs:
    parts = [model_outputs(graph, member, features, n_features) for member in model.members_]
    total = None
    for weight, part in zip(model.weights_, parts, strict=True):
        term = graph.op("Mul", part.name, graph.const(float(weight)))
        total = term if total is None else graph.op("Add", total, term)
    return Outputs(parts[0].kind, total)
