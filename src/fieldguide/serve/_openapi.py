"""The server's OpenAPI document and OIP model metadata, both derived from the served pipeline's schema."""

from __future__ import annotations

from typing import Any

from fieldguide import __version__
from fieldguide.data import ColumnSpec
from fieldguide.serve._model import Served, example_record
from fieldguide.serve._requests import DATATYPES
from fieldguide.serve._settings import ServeSettings


def input_datatype(spec: ColumnSpec) -> str:
    """The OIP datatype a client should send for a column."""
    if spec.kind == "boolean":
        return "BOOL"
    integer = spec.dtype.startswith(("Int", "UInt"))
    if spec.kind == "numeric":
        return "INT64" if integer else "FP64"
    return "INT64" if spec.kind == "categorical" and integer else "BYTES"


def prediction_datatype(served: Served) -> str:
    """The OIP datatype of the ``predict`` output: FP64 for a regressor, else that of the class labels."""
    classes = served.classes
    if classes is None:
        return "FP64"
    if all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    return "BYTES"


def as_datatype(value: Any, datatype: str) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return {"BYTES": str, "FP64": float, "INT64": int, "BOOL": bool}[datatype](value)


def model_metadata(served: Served) -> dict[str, Any]:
    """OIP model metadata: one input per feature column (shape ``[-1, 1]``), outputs, task and classes."""
    classes = served.classes
    outputs = [{"name": "predict", "datatype": prediction_datatype(served), "shape": [-1]}]
    if classes is not None:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": served.name,
        "versions": [str(served.version)],
        "platform": "fieldguide",
        "inputs": [
            {"name": c.name, "datatype": input_datatype(c), "shape": [-1, 1]} for c in served.schema.features
        ],
        "outputs": outputs,
        "parameters": {"task": getattr(served.pipeline, "task", "unknown"), "classes": classes},
    }


def _json_type(spec: ColumnSpec) -> dict[str, Any]:
    kind = {"BOOL": "boolean", "INT64": "integer", "FP64": "number", "BYTES": "string"}[input_datatype(spec)]
    return {"type": [kind, "null"] if spec.nullable else kind, "description": f"{spec.kind} column"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed request, or values that do not fit the model's schema; the message names the field.",
        401: "Missing or wrong bearer token.",
        404: "Unknown model or version (or admin routes disabled).",
        413: "Request body or row count over the server's limit.",
        500: "The model failed on a request that passed validation.",
        503: "No model loaded yet.",
    }
    return {str(s): _json(_ref("Error"), meaning[s]) for s in statuses}


def document(served: Served, settings: ServeSettings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, with records typed by the served model's schema."""
    features = served.schema.features
    example = example_record(served.schema)
    record = {
        "type": "object",
        "description": "One row: a field per feature column. Other schema columns (identifiers) are logged; "
        "unknown fields are reported as warnings (errors with --strict).",
        "properties": {c.name: _json_type(c) for c in served.schema if c.role != "ignored"},
        "required": [c.name for c in features],
        "example": example,
    }
    probabilities = {"type": "object", "additionalProperties": {"type": "number"}}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "violations": {"type": "array", "items": _ref("Violation")},
            },
        },
        "Violation": {
            "type": "object",
            "required": ["field", "rule", "expected", "found", "row"],
            "properties": {
                "field": {"type": "string"},
                "rule": {"type": "string"},
                "expected": {"type": "string"},
                "found": {"type": "string"},
                "row": {"type": ["integer", "null"]},
            },
        },
        "Record": record,
        "PredictRequest": {
            "type": "object",
            "required": ["records"],
            "additionalProperties": False,
            "properties": {
                "records": {
                    "type": "array",
                    "items": _ref("Record"),
                    "minItems": 1,
                    "maxItems": settings.max_rows,
                },
                "id": {"type": "string", "minLength": 1, "maxLength": 128},
            },
            "example": {"records": [example]},
        },
        "PredictResponse": {
            "type": "object",
            "required": ["id", "model", "version", "predictions", "probabilities", "warnings"],
            "properties": {
                "id": {"type": "string"},
                "model": {"type": "string"},
                "version": {"type": "integer"},
                "predictions": {"type": "array"},
                "probabilities": {"type": ["array", "null"], "items": probabilities},
                "warnings": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Parameters": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "RequestInput": {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "description": "a column name"},
                "shape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 1,
                    "maxItems": 2,
                },
                "datatype": {"type": "string", "enum": list(DATATYPES)},
                "parameters": _ref("Parameters"),
                "data": {"type": "array"},
            },
        },
        "RequestOutput": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "enum": [o["name"] for o in model_metadata(served)["outputs"]]},
                "parameters": _ref("Parameters"),
            },
        },
        "InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 128},
                "parameters": _ref("Parameters"),
                "inputs": {"type": "array", "items": _ref("RequestInput"), "minItems": 1},
                "outputs": {"type": "array", "items": _ref("RequestOutput")},
            },
            "example": {
                "inputs": [
                    {
                        "name": c.name,
                        "shape": [1, 1],
                        "datatype": input_datatype(c),
                        "data": [example[c.name]],
                    }
                    for c in features
                ]
            },
        },
        "ResponseOutput": {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                "name": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer"}},
                "datatype": {"type": "string"},
                "data": {"type": "array"},
            },
        },
        "InferenceResponse": {
            "type": "object",
            "required": ["model_name", "id", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": _ref("Parameters"),
                "outputs": {"type": "array", "items": _ref("ResponseOutput")},
            },
        },
        "TensorMetadata": {
            "type": "object",
            "required": ["name", "datatype", "shape"],
            "properties": {
                "name": {"type": "string"},
                "datatype": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": _ref("TensorMetadata")},
                "outputs": {"type": "array", "items": _ref("TensorMetadata")},
                "parameters": {"type": "object"},
            },
        },
        "ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
    }

    def flag(name: str) -> dict[str, Any]:
        return {"type": "object", "required": [name], "properties": {name: {"type": "boolean"}}}

    def get(summary: str, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
        return {"get": {"summary": summary, "responses": {"200": _json(schema, "OK"), **_errors(*errors)}}}

    def post(
        summary: str, body: str | None, schema: dict[str, Any], *errors: int, admin: bool = False
    ) -> dict:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {"200": _json(schema, "OK"), **_errors(*errors)},
        }
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(body)}},
            }
        if admin:
            operation["security"] = [{"bearer": []}]
        return {"post": operation}

    # This server serves one model: other names and versions are 404s, documented as such.
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [served.name]},
    }
    version = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [str(served.version)]},
    }
    paths: dict[str, Any] = {
        "/v2/health/live": get("Server liveness", flag("live")),
        "/v2/health/ready": get("Server readiness: a model is loaded", flag("ready"), 503),
        "/v2": get("Server metadata", _ref("ServerMetadata")),
    }
    for prefix, parameters in (
        ("/v2/models/{name}", [name]),
        ("/v2/models/{name}/versions/{version}", [name, version]),
    ):
        ready = {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        }
        paths[prefix] = {"parameters": parameters, **get("Model metadata", _ref("ModelMetadata"), 404, 503)}
        paths[f"{prefix}/ready"] = {"parameters": parameters, **get("Model readiness", ready, 404, 503)}
        paths[f"{prefix}/infer"] = {
            "parameters": parameters,
            **post(
                "Predict (Open Inference Protocol v2)",
                "InferenceRequest",
                _ref("InferenceResponse"),
                400,
                404,
                413,
                500,
                503,
            ),
        }
    paths["/predict"] = post(
        "Predict JSON records", "PredictRequest", _ref("PredictResponse"), 400, 413, 500, 503
    )
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
            },
        }
    }
    paths["/openapi.json"] = get("This document", {"type": "object"}, 503)
    reload = {
        "type": "object",
        "required": ["model", "previous", "version", "changed"],
        "properties": {
            "model": {"type": "string"},
            "previous": {"type": "integer"},
            "version": {"type": "integer"},
            "changed": {"type": "boolean"},
        },
    }
    flushed = {
        "type": "object",
        "required": ["written", "queued"],
        "properties": {"written": {"type": "integer"}, "queued": {"type": "integer"}},
    }
    paths["/admin/reload"] = post(
        "Reload the model if its alias moved", None, reload, 401, 404, 500, admin=True
    )
    paths["/admin/flush-log"] = post(
        "Write the queued prediction log now", None, flushed, 401, 404, 500, admin=True
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"fieldguide serve: {served.name} version {served.version}",
            "version": __version__,
            "description": "Open Inference Protocol v2 REST endpoints plus a JSON-records endpoint.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
