"""Turning request bodies into records, and records into verdicts, before any model code runs.

Two shapes of body reach the model: ``/predict``'s ``{"records": [...]}`` and the Open Inference Protocol's
``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}`` with one input per column. Both become a list of
records (dicts); the body's structure is checked here, on the event loop, and the values against the
pipeline's schema in the model thread (:func:`screen`), one ``validate_records`` call per micro-batch.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any

from fieldguide.data import Schema, Violation

Record = dict[str, Any]

# OIP data types and the JSON values each accepts (null is accepted by all: the schema decides on missing).
_INTEGERS = {f"{sign}INT{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)}
_FLOATS = {"FP16", "FP32", "FP64"}
DATATYPES = ("BOOL", *sorted(_INTEGERS), *sorted(_FLOATS), "BYTES")
_TOP_LEVEL = {"predict": {"records", "id"}, "infer": {"id", "parameters", "inputs", "outputs"}}
_TENSOR_FIELDS = {"name", "shape", "datatype", "parameters", "data"}
OUTPUTS = ("predict", "probabilities")
_SHOWN = 5  # violations listed in one error message; the response's "violations" has them all


class Rejected(Exception):
    """A request refused with an HTTP status, a kind (for metrics) and a message naming the field."""

    def __init__(self, status: int, kind: str, message: str, violations: Sequence[Violation] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.violations = list(violations)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.violations:
            body["violations"] = [violation_json(v) for v in self.violations]
        return body


def violation_json(v: Violation) -> dict[str, Any]:
    return {"field": v.column, "rule": v.rule, "expected": v.expected, "found": v.found, "row": v.row}


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; NaN and Infinity are read as numbers so the schema can name the field."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Rejected(400, "malformed_json", f"request body is not valid JSON: {err}") from None
    except RecursionError:
        raise Rejected(400, "malformed_json", "request body is nested too deeply") from None


def predict_records(document: Any, max_rows: int) -> tuple[list[Record], str | None]:
    """``/predict``'s records and request id, after checking the body's structure."""
    _check_object(document, "request body", "predict")
    records = document.get("records")
    if not isinstance(records, list) or not records:
        raise Rejected(400, "bad_request", "records: expected a non-empty list of JSON objects (one per row)")
    _check_rows(len(records), max_rows)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            found = type(record).__name__ if record is not None else "null"
            raise Rejected(400, "bad_request", f"records[{i}]: expected a JSON object, found {found}")
    return records, _request_id(document)


def infer_records(
    document: Any, schema: Schema, max_rows: int
) -> tuple[list[Record], str | None, tuple[str, ...] | None]:
    """An OIP inference request's rows as records, its id, and the outputs it asks for (``None``: all).

    Each input is one column: shape ``[N]`` or ``[N, 1]``, data flat or nested, every input with the same N.
    """
    _check_object(document, "request body", "infer")
    if not isinstance(document.get("parameters", {}), dict):
        raise Rejected(400, "bad_request", "parameters: expected a JSON object")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise Rejected(400, "bad_request", "inputs: expected a non-empty list, one input per column")
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(inputs):
        name, values = _tensor(tensor, f"inputs[{i}]")
        if name in columns:
            raise Rejected(400, "bad_request", f"inputs[{i}]: input {name!r} is given twice")
        columns[name] = values
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
        raise Rejected(400, "bad_shape", f"inputs: every input must have the same number of rows; {listing}")
    missing = [c for c in schema.features if c.name not in columns]
    if missing:
        listing = ", ".join(f"{c.name!r} ({c.kind})" for c in missing)
        raise Rejected(
            400, "missing_column", f"inputs: missing input(s) {listing}; one input per feature column"
        )
    rows = next(iter(lengths.values()))
    if rows == 0:
        raise Rejected(400, "bad_shape", "inputs: expected at least one row, found shape [0]")
    _check_rows(rows, max_rows)
    names = list(columns)
    records = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return records, _request_id(document), _requested_outputs(document.get("outputs"))


def _check_object(document: Any, what: str, route: str) -> None:
    if not isinstance(document, dict):
        raise Rejected(400, "bad_request", f"{what}: expected a JSON object, found {_json_type(document)}")
    unknown = sorted(set(document) - _TOP_LEVEL[route])
    if unknown:
        raise Rejected(
            400,
            "extra_field",
            f"{what}: unknown field(s) {unknown}; expected only {sorted(_TOP_LEVEL[route])}",
        )


def _check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise Rejected(413, "too_large", f"request has {rows} rows; this server accepts at most {max_rows}")


def _request_id(document: dict[str, Any]) -> str | None:
    value = document.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 128:
        raise Rejected(
            400, "bad_request", f"id: expected a string of 1 to 128 characters, found {value!r:.60}"
        )
    return value


def _tensor(tensor: Any, where: str) -> tuple[str, list[Any]]:
    """One OIP input as (column name, values), after checking its name, datatype, shape and data."""
    if not isinstance(tensor, dict):
        raise Rejected(400, "bad_request", f"{where}: expected a JSON object, found {_json_type(tensor)}")
    unknown = sorted(set(tensor) - _TENSOR_FIELDS)
    if unknown:
        raise Rejected(
            400, "extra_field", f"{where}: unknown field(s) {unknown}; expected only {sorted(_TENSOR_FIELDS)}"
        )
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise Rejected(400, "bad_request", f"{where}.name: expected the column's name, found {name!r:.60}")
    where = f"input {name!r}"
    parameters = tensor.get("parameters", {})
    if not isinstance(parameters, dict):
        raise Rejected(
            400, "bad_request", f"{where}.parameters: expected a JSON object, found {_json_type(parameters)}"
        )
    if "binary_data_size" in parameters:
        raise Rejected(
            400,
            "bad_request",
            f"{where}: binary tensor data is not supported; send JSON data (tritonclient: binary_data=False)",
        )
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise Rejected(
            400,
            "bad_datatype",
            f"{where}: datatype must be one of {', '.join(DATATYPES)}, found {datatype!r:.60}",
        )
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise Rejected(
            400, "bad_shape", f"{where}: shape must be [N] or [N, 1] (one column), found {shape!r:.60}"
        )
    if "data" not in tensor:
        raise Rejected(400, "bad_request", f"{where}: 'data' is missing")
    values = _flatten(tensor["data"], where)
    if len(values) != shape[0]:
        raise Rejected(
            400, "bad_shape", f"{where}: shape {shape} holds {shape[0]} values, data has {len(values)}"
        )
    for position, value in enumerate(values):
        if value is not None and not _fits(datatype, value):
            raise Rejected(
                400,
                "bad_datatype",
                f"{where}: datatype {datatype} expects {_expects(datatype)}, "
                f"found {_json_type(value)} {value!r:.60} at row {position}",
            )
    return name, values


def _flatten(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise Rejected(400, "bad_shape", f"{where}: data must be a list, found {_json_type(data)}")
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            if len(item) != 1 or isinstance(item[0], list):
                raise Rejected(
                    400, "bad_shape", f"{where}: nested data must be [[v], [v], ...], one value per row"
                )
            flat.append(item[0])
        else:
            flat.append(item)
    return flat


def _fits(datatype: str, value: Any) -> bool:
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype == "BYTES":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if datatype in _INTEGERS:
        return isinstance(value, int) and (value >= 0 or not datatype.startswith("U"))
    return isinstance(value, int | float)


def _expects(datatype: str) -> str:
    if datatype == "BOOL":
        return "true or false"
    if datatype == "BYTES":
        return "strings"
    return (
        "non-negative integers"
        if datatype.startswith("U")
        else "integers"
        if "INT" in datatype
        else "numbers"
    )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _requested_outputs(outputs: Any) -> tuple[str, ...] | None:
    """The output names a request asks for; ``None`` when it names none (the model's own outputs)."""
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise Rejected(400, "bad_request", 'outputs: expected a list of objects like {"name": "predict"}')
    names = tuple(o.get("name") for o in outputs)
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise Rejected(
            400, "bad_request", f"outputs: unknown output(s) {unknown}; this model has {list(OUTPUTS)}"
        )
    return names or None


# -- values against the schema (model thread) --------------------------------------------------------------


def screen(schema: Schema, requests: Sequence[Sequence[Mapping[str, Any]]], strict: bool) -> list[Any]:
    """Validate several requests' records in one pass; per request, a :class:`Rejected` or its warnings.

    Errors (missing field, wrong type, non-finite number, null where not nullable) reject the request with HTTP
    400; unknown categories and unknown fields are warnings, or errors when ``strict``. Row numbers in messages
    count from 0 within each request.
    """
    starts = [0, *accumulate(len(records) for records in requests)]
    flat = [record for records in requests for record in records]
    found: list[list[Violation]] = [[] for _ in requests]
    for v in schema.validate_records(flat):
        if v.row is None:  # column-level: an extra field in some record; name it in each request that has it
            for i, records in enumerate(requests):
                if any(v.column in r for r in records):
                    found[i].append(v)
            continue
        i = bisect_right(starts, v.row) - 1
        found[i].append(Violation(v.column, v.rule, v.expected, v.found, v.row - starts[i], v.severity))
    verdicts: list[Any] = []
    for violations in found:
        errors = [v for v in violations if strict or v.severity == "error"]
        if errors:
            kind = errors[0].rule
            verdicts.append(Rejected(400, kind, summarize(errors), errors))
        else:
            verdicts.append(summarize_each(violations))
    return verdicts


def unanswerable(
    results: Sequence[Mapping[str, Any]], records: Sequence[Record], schema: Schema
) -> Rejected | None:
    """A request whose answers hold a number JSON cannot carry (a log-link model's ``exp`` of an input far beyond
    anything seen in training overflows to infinity): HTTP 422 naming the rows, and the numeric inputs of the
    first that lie outside their training range. None when every answer is finite."""
    rows = [i for i, result in enumerate(results) if not _finite(result)]
    if not rows:
        return None
    first = records[rows[0]]
    outside = []
    for spec in schema.features:
        low, high, value = spec.min, spec.max, first.get(spec.name)
        if spec.kind != "numeric" or low is None or high is None or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not low <= number <= high:
            outside.append(f"{spec.name} = {number:g} (training range {low:g} to {high:g})")
    listed = ", ".join(map(str, rows[:_SHOWN])) + (
        f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    )
    why = f"; row {rows[0]} has {', '.join(outside)}" if outside else ""
    return Rejected(
        422,
        "non_finite_prediction",
        f"the model's answer for row(s) {listed} is not a finite number{why}; check those inputs",
    )


def _finite(result: Mapping[str, Any]) -> bool:
    prediction = result["prediction"]
    if isinstance(prediction, float) and not math.isfinite(prediction):
        return False
    return all(math.isfinite(p) for p in (result.get("probabilities") or {}).values())


def summarize(violations: Sequence[Violation]) -> str:
    """One message for many violations: one line per field and rule, with how many rows it hit."""
    lines = summarize_each(violations)
    more = f"; and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return "; ".join(lines[:_SHOWN]) + more


def summarize_each(violations: Sequence[Violation]) -> list[str]:
    """One message per (field, rule): the first row's message, and how many more rows share it."""
    groups: dict[tuple[str, str], list[Violation]] = {}
    for v in violations:
        groups.setdefault((v.column, v.rule), []).append(v)
    out = []
    for (column, rule), group in groups.items():
        text = (
            f"{column}: unknown field, not in the model's schema"
            if rule == "extra_column"
            else group[0].message
        )
        out.append(text + (f" (and {len(group) - 1} more rows)" if len(group) > 1 else ""))
    return out
