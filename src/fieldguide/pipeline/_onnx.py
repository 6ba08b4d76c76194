"""A fitted pipeline as one ONNX model: the featurizer's arithmetic, the model, and the labels, in one graph.

Any ONNX runtime (onnxruntime in Python, C++, C#, Java, JavaScript...) can then score raw columns without
fieldguide. The inputs are the schema's feature columns, one 1-D tensor each, by name:

- numeric: double; NaN (or ±inf, or a number the schema lists in ``missing_values``) is missing;
- boolean: double, 1 for true and 0 for false; anything else (NaN) is missing;
- categorical: string, the category as text; ``""`` (unless it is a training category) or one of the column's
  ``missing_values`` is missing, a category training did not see counts as ``<name>__other``;
- datetime: double, seconds since 1970-01-01T00:00:00 UTC (Unix time); NaN is missing.

Text columns have no export (ONNX has no operator for a string's length in characters).

The outputs are ``prediction`` (the label, or the predicted value: float64) and, for classifiers that give them,
``probabilities`` ((rows, classes) float64, columns in the order of ``metadata_props['classes']``).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide import __version__
from fieldguide._files import atomic_write_bytes
from fieldguide.errors import ExportError
from fieldguide.models._onnx import Graph, model_outputs

if TYPE_CHECKING:
    from fieldguide.pipeline import Pipeline

_ONNX_KINDS = {"numeric": "double", "boolean": "double", "datetime": "double", "categorical": "string"}


def to_onnx(pipeline: Pipeline) -> Any:
    """The pipeline as an ``onnx.ModelProto`` (checked by ``onnx.checker``).

    Raises ``ExportError`` naming the column or model ONNX cannot express, or the missing ``onnx`` extra.
    """
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ExportError("ONNX export needs the onnx extra: pip install 'fieldguide[onnx]'") from None
    graph = Graph()
    inputs, features = _features(graph, pipeline.featurizer)
    answer = model_outputs(graph, pipeline.model, features, len(pipeline.featurizer.feature_names_out))

    outputs = []
    if pipeline.classes_ is None:
        graph.nodes.append(helper.make_node("Identity", [answer.name], ["prediction"]))
        outputs.append(helper.make_tensor_value_info("prediction", onnx.TensorProto.DOUBLE, ["rows"]))
    else:
        ids = answer.name if answer.kind == "ids" else graph.op("ArgMax", answer.name, axis=1, keepdims=0)
        labels = np.asarray(pipeline.classes_)
        labels = labels.astype(object) if labels.dtype.kind in "OU" else labels
        graph.nodes.append(
            helper.make_node("Gather", [graph.const(labels, hint="classes"), ids], ["prediction"])
        )
        label_type = (
            onnx.TensorProto.STRING
            if labels.dtype == object
            else helper.np_dtype_to_tensor_dtype(labels.dtype)
        )
        outputs.append(helper.make_tensor_value_info("prediction", label_type, ["rows"]))
        if answer.kind == "proba":
            graph.nodes.append(helper.make_node("Identity", [answer.name], ["probabilities"]))
            outputs.append(
                helper.make_tensor_value_info(
                    "probabilities", onnx.TensorProto.DOUBLE, ["rows", len(pipeline.classes_)]
                )
            )
    model = _model(graph, inputs, outputs)
    metadata = {
        "target": pipeline.target,
        "task": pipeline.task,
        "classes": json.dumps(pipeline.classes_),
        "model": type(pipeline.model).__name__,
        "feature_names": json.dumps(pipeline.featurizer.feature_names_out),
        "lineage": json.dumps(pipeline.lineage, default=str),
    }
    helper.set_model_props(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as err:
        raise ExportError(
            f"ONNX export: the graph built for {pipeline!r} is not valid ONNX ({err})"[:800]
        ) from None
    return model


def _model(graph: Graph, inputs: list[Any], outputs: list[Any]) -> Any:
    """The ONNX model of ``graph``'s nodes, keeping only the constants they use."""
    from onnx import helper

    used = {name for node in graph.nodes for name in node.input}
    constants = [tensor for tensor in graph.initializers if tensor.name in used]
    model = helper.make_model(
        helper.make_graph(graph.nodes, "fieldguide_pipeline", inputs, outputs, constants),
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in graph.opsets.items()],
        producer_name="fieldguide",
        producer_version=__version__,
        doc_string=__doc__,
    )
    model.ir_version = 8  # what opset 15 runtimes read (onnxruntime >= 1.10)
    return model


def save_onnx(pipeline: Pipeline, path: str | os.PathLike) -> Any:
    """Write :func:`to_onnx`'s model to ``path`` (atomically: the file is whole or absent); returns the model."""
    model = to_onnx(pipeline)
    atomic_write_bytes(path, model.SerializeToString())
    return model


# -- the featurizer, column by column (mirrors fieldguide.data._featurizer) ---------------------------------------


def _features(graph: Graph, featurizer: Any) -> tuple[list[Any], str]:
    """The graph's inputs (one per feature column) and the (rows, features) float64 matrix computed from them.

    The numbers derived from every column (values, datetime parts) are imputed and scaled together, as one matrix,
    so that the graph's size, and a one-row call's time in a runtime, grow little with the number of columns.
    """
    from onnx import TensorProto, helper

    if featurizer.columns_ is None:
        raise ExportError("ONNX export: the pipeline's featurizer is not fitted")
    specs = {spec.name: spec for spec in featurizer.schema.features}
    inputs, numbers, parts, encoded = [], [], [], []
    order: list[tuple[str, int]] = []  # each output feature: ("number" | "indicator" | "encoded", its index)
    for state in featurizer.columns_:
        spec = specs[state["name"]]
        kind = _ONNX_KINDS.get(spec.kind)
        if kind is None:
            raise ExportError(
                f"ONNX export: column {spec.name!r} is {spec.kind}, which has no ONNX form (ONNX has no "
                "operator for a string's length); retrain without it (--ignore) to export"
            )
        elem = TensorProto.STRING if kind == "string" else TensorProto.DOUBLE
        inputs.append(helper.make_tensor_value_info(spec.name, elem, ["rows"]))
        if state["kind"] == "categorical":
            block, width = _categorical(graph, state, spec)
            order.extend(("encoded", sum(w for _, w in encoded) + i) for i in range(width))
            encoded.append((block, width))
            continue
        raw = _raw_number(graph, state, spec)
        derived = _parts(graph, raw, state)
        for part in state["parts"]:
            order.append(("number", len(parts)))
            if part["indicator"]:
                order.append(("indicator", len(parts)))
            numbers.append(derived[part["part"]])
            parts.append(part)
    if not order:
        raise ExportError("ONNX export: the pipeline has no feature columns")
    # Built feature by row, (features, rows): a row of this layout is one feature, contiguous, so picking the
    # featurizer's order is a Gather of whole rows (a memory copy each); then one Transpose. Picking columns of a
    # (rows, features) matrix took onnxruntime longer than all the arithmetic before it, and a 0/1 matrix product
    # grew with features² (1 MB of constants on Ames housing).
    flags = any(p["indicator"] for p in parts)
    blocks = []
    if parts:
        flat = graph.op("Concat", *numbers, axis=0) if len(numbers) > 1 else numbers[0]
        matrix = graph.op("Reshape", flat, graph.const([len(numbers), -1], np.int64))
        missing = graph.op("Or", graph.op("IsNaN", matrix), graph.op("IsInf", matrix))
        medians, means, inverses = (
            graph.const([[float(p["median"])] for p in parts]),
            graph.const([[float(p["mean"])] for p in parts]),
            graph.const([[1.0 / float(p["scale"])] for p in parts]),
        )
        filled = graph.op("Where", missing, medians, matrix)
        blocks.append(graph.op("Mul", graph.op("Sub", filled, means), inverses))
        if flags:  # every part's missing flag: the Gather below keeps those wanted
            blocks.append(graph.op("Cast", missing, to=TensorProto.DOUBLE))
    blocks.extend(block for block, _ in encoded)
    stacked = graph.op("Concat", *blocks, axis=0) if len(blocks) > 1 else blocks[0]
    start = {"number": 0, "indicator": len(parts), "encoded": len(parts) * (2 if flags else 1)}
    width = start["encoded"] + sum(w for _, w in encoded)
    positions = [start[what] + index for what, index in order]
    if positions != list(range(width)):
        stacked = graph.op("Gather", stacked, graph.const(positions, np.int64), axis=0)
    return inputs, graph.op("Transpose", stacked, perm=[1, 0])


def _raw_number(graph: Graph, state: dict[str, Any], spec: Any) -> str:
    """A numeric, boolean or datetime input as the number its parts derive from (NaN where missing)."""
    if state["kind"] == "boolean":  # 1 is true, 0 false, anything else missing (as numbers are typed)
        one, zero = (graph.op("Equal", spec.name, graph.const(v)) for v in (1.0, 0.0))
        return graph.op("Where", graph.op("Or", one, zero), spec.name, graph.const(np.nan))
    return _declared_missing(graph, spec) if state["kind"] == "numeric" else spec.name


def _declared_missing(graph: Graph, spec: Any) -> str:
    """The numeric input with the numbers the schema declares missing (``Glucose=0``) replaced by NaN."""
    from fieldguide.data._schema import parse_number

    name = spec.name
    numbers = [n for n in map(parse_number, spec.missing_values) if n is not None]
    if not numbers:
        return name
    declared = graph.op(
        "Equal", graph.op("Unsqueeze", name, graph.const([1], np.int64)), graph.const([numbers])
    )
    hit = graph.op("ReduceMax", graph.op("Cast", declared, to=7), axes=[1], keepdims=0)  # 7: INT64
    return graph.op("Where", graph.op("Cast", hit, to=9), graph.const(np.nan), name)  # 9: BOOL


def _parts(graph: Graph, value: str, state: dict[str, Any]) -> dict[str, str]:
    """The numbers derived from a column, by part: the value itself, or a datetime's calendar parts (from Unix
    seconds; each intermediate computed once)."""
    wanted = {part["part"] for part in state["parts"]}
    if wanted == {"value"}:
        return {"value": value}
    import datetime as dt

    origin = dt.datetime.fromisoformat(state.get("origin") or "1970-01-01").replace(tzinfo=dt.UTC).timestamp()
    since = graph.op("Sub", value, graph.const(origin))
    found = {"days": graph.op("Mul", since, graph.const(1.0 / 86_400))}
    days = _floor_div(graph, value, 86_400.0)  # whole days since 1970-01-01
    if "hour" in wanted:
        seconds = graph.op("Sub", value, graph.op("Mul", days, graph.const(86_400.0)))
        found["hour"] = _floor_div(graph, seconds, 3_600.0)
    shifted = graph.op("Add", days, graph.const(3.0))  # 1 = Monday; 1970-01-01 was a Thursday
    week = graph.op("Mul", _floor_div(graph, shifted, 7.0), graph.const(7.0))
    found["weekday"] = graph.op("Add", graph.op("Sub", shifted, week), graph.const(1.0))
    found["year"], found["month"] = _civil(graph, days)
    return found


def _civil(graph: Graph, days: str) -> tuple[str, str]:
    """(year, month) of a count of days since 1970-01-01, by Howard Hinnant's ``civil_from_days`` (exact in
    float64 for any date a datetime holds)."""

    def c(value: float) -> str:
        return graph.const(value)

    def add(*terms: str) -> str:
        total = terms[0]
        for term in terms[1:]:
            total = graph.op("Add", total, term)
        return total

    def sub(a: str, b: str) -> str:
        return graph.op("Sub", a, b)

    def mul(a: str, k: float) -> str:
        return graph.op("Mul", a, c(k))

    z = add(days, c(719_468.0))
    era = _floor_div(graph, z, 146_097.0)
    doe = sub(z, mul(era, 146_097.0))  # day of the 400-year era, 0..146096
    yoe_days = add(sub(doe, _floor_div(graph, doe, 1_460.0)), _floor_div(graph, doe, 36_524.0))
    yoe = _floor_div(graph, sub(yoe_days, _floor_div(graph, doe, 146_096.0)), 365.0)  # 0..399
    doy = sub(doe, add(mul(yoe, 365.0), _floor_div(graph, yoe, 4.0)))
    doy = add(doy, _floor_div(graph, yoe, 100.0))  # day of the year from March 1, 0..365
    mp = _floor_div(graph, add(mul(doy, 5.0), c(2.0)), 153.0)  # month from March, 0..11
    march_on = graph.op("Less", mp, c(10.0))
    month = graph.op("Where", march_on, add(mp, c(3.0)), sub(mp, c(9.0)))
    year = add(yoe, mul(era, 400.0), graph.op("Cast", graph.op("Not", march_on), to=11))
    return year, month


def _floor_div(graph: Graph, value: str, divisor: float) -> str:
    return graph.op("Floor", graph.op("Div", value, graph.const(divisor)))


def _categorical(graph: Graph, state: dict[str, Any], spec: Any) -> tuple[str, int]:
    """The one-hot (plus ``__other``) or frequency block, (width, rows), and its width, through one LabelEncoder
    from text to an index."""
    name = state["name"]
    if state["encoding"] == "onehot":
        known = [str(c) for c in state["categories"]]
        table = None
    else:
        frequencies = {str(k): float(v) for k, v in state["frequencies"].items()}
        known, table = list(frequencies), list(frequencies.values())
    # "" and the declared missing values are missing unless training saw them as categories
    seen = set(known)
    missing = [m for m in dict.fromkeys(("", *spec.missing_values)) if m not in seen]
    other, absent = len(known), len(known) + 1
    ids = graph.op(
        "LabelEncoder",
        name,
        domain="ai.onnx.ml",
        keys_strings=known + missing,
        values_int64s=list(range(len(known))) + [absent] * len(missing),
        default_int64=other,
    )
    if table is not None:  # frequency: 0 for unseen or missing
        lookup = graph.const(np.asarray([*table, 0.0, 0.0], np.float64))
        frequency = graph.op("Gather", lookup, ids)
        return graph.op("Unsqueeze", frequency, graph.const([0], np.int64)), 1
    # (categories + 1, rows): the known categories, then "other"; a missing value's index is past the end, which
    # OneHot leaves all zeros (onnxruntime's OneHot writes float32, not float64: 0 and 1 are exact in both)
    depth, off_on = graph.const([len(known) + 1], np.int64), graph.const([0.0, 1.0], np.float32)
    onehot = graph.op("OneHot", ids, depth, off_on, axis=0)
    return graph.op("Cast", onehot, to=11), len(known) + 1


# -- using the exported model -------------------------------------------------------------------------------------


def onnx_inputs(pipeline: Pipeline | Any, df: Any) -> dict[str, np.ndarray]:
    """A table's feature columns in the exported model's input form (see the module's docstring), by name, for
    ``onnxruntime.InferenceSession.run``; ``pipeline`` may also be its featurizer (anything with a ``schema``).

    Values are typed by the training schema first (``typed_frame``), so what the pipeline reads as missing
    arrives as NaN or ``""``.
    """
    import polars as pl

    from fieldguide.data._schema import as_frame, typed_frame

    frame = as_frame(df)
    features = pipeline.schema.features
    missing = [spec.name for spec in features if spec.name not in frame.columns]
    if missing:
        raise ExportError(f"onnx_inputs: missing feature column(s) {missing}; the table has {frame.columns}")
    typed = typed_frame(pipeline.schema, frame.select([spec.name for spec in features]))
    feeds = {}
    for spec in features:
        column = typed.get_column(spec.name)
        if spec.kind in ("categorical", "text"):
            feeds[spec.name] = np.asarray(column.fill_null("").to_list(), dtype=object)
        elif spec.kind == "datetime":
            seconds = column.dt.epoch("us").cast(pl.Float64) * 1e-6
            feeds[spec.name] = seconds.fill_null(np.nan).to_numpy()
        else:
            feeds[spec.name] = column.cast(pl.Float64).fill_null(np.nan).to_numpy()
    return feeds


def describe_inputs(pipeline: Pipeline) -> str:
    """The exported model's inputs in one line: ``age (double), plan (string), ...``."""
    return ", ".join(
        f"{spec.name} ({_ONNX_KINDS.get(spec.kind, spec.kind)})" for spec in pipeline.schema.features
    )


def check_onnx(pipeline: Pipeline, model: Any, df: Any, tolerance: float = 1e-5) -> dict[str, Any]:
    """Score ``df`` with the pipeline and with ``model`` in onnxruntime, and compare.

    Returns ``rows``; ``max_difference``, the largest absolute difference of a probability, or of a predicted
    value relative to the larger of its size and the predictions' standard deviation, at least 1 (float32 models
    sum terms far larger than a prediction near 0); ``label_mismatches``, the rows whose labels differ although
    the pipeline's two most probable classes are more than ``tolerance`` apart (float32 arithmetic may break an
    exact tie either way); and ``ok``.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "checking an ONNX export needs onnxruntime: pip install 'fieldguide[onnx]'"
        ) from None
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    answers = dict(
        zip(
            [o.name for o in session.get_outputs()], session.run(None, onnx_inputs(pipeline, df)), strict=True
        )
    )
    # the pipeline's labels and probabilities from one validation and featurization, as Pipeline.predict does
    expected, proba = pipeline._outputs(pipeline._table_features(df))
    result: dict[str, Any] = {"rows": len(expected), "label_mismatches": 0}
    if pipeline.classes_ is None:
        scale = np.maximum(np.abs(expected), max(1.0, float(np.std(expected))) if len(expected) else 1.0)
        result["max_difference"] = float(
            np.max(np.abs(answers["prediction"] - expected) / scale, initial=0.0)
        )
    else:
        differ = np.asarray(answers["prediction"]) != expected
        if "probabilities" in answers:
            result["max_difference"] = float(np.max(np.abs(answers["probabilities"] - proba), initial=0.0))
            top = np.sort(proba, axis=1)
            differ &= (top[:, -1] - top[:, -2]) > tolerance
        else:
            result["max_difference"] = 0.0
        result["label_mismatches"] = int(differ.sum())
    result["ok"] = result["max_difference"] <= tolerance and result["label_mismatches"] == 0
    return result
