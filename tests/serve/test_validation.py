"""Every kind of bad request gets a 4xx naming the field and what was expected, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest

from serve_support import MODEL, make_registry, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory, fitted):
    root = tmp_path_factory.mktemp("validation")
    with (
        make_registry(root, fitted) as reg,
        serving(reg, f"sqlite:///{root / 'log.db'}", max_rows=50, max_body_bytes=64_000) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def record(fitted):
    return fitted.records(1)[0]


@pytest.fixture(scope="module")
def oip(fitted):
    """A valid OIP body for 3 rows, built from the records: one [3, 1] input per feature."""
    from fieldguide.serve._openapi import input_datatype

    records = [r for r in fitted.records() if all(v is not None for v in r.values())][:3]
    return {
        "inputs": [
            {
                "name": c.name,
                "shape": [3, 1],
                "datatype": input_datatype(c),
                "data": [r[c.name] for r in records],
            }
            for c in fitted.v1.schema.features
        ]
    }


def _changed(record, **changes):
    out = {**record, **changes}
    return {k: v for k, v in out.items() if v is not _DROP}


_DROP = object()


def _infer(oip, name=None, **changes):
    """The OIP body with input ``name`` changed (or removed when changes is {"drop": True}), or top-level changes."""
    body = json.loads(json.dumps(oip))
    if name is None:
        body.update(changes)
        return body
    for i, tensor in enumerate(body["inputs"]):
        if tensor["name"] == name:
            if changes.get("drop"):
                del body["inputs"][i]
            else:
                tensor.update(changes)
    return body


PREDICT_CASES = [
    # (id, body as text or JSON-able, status, words the error must contain)
    ("malformed json", '{"records": [', 400, ["not valid JSON"]),
    ("not an object", "[1, 2]", 400, ["request body", "JSON object"]),
    ("no records", {"rows": []}, 400, ["unknown field", "rows"]),
    ("empty records", {"records": []}, 400, ["records", "non-empty"]),
    ("record not an object", {"records": [1]}, 400, ["records[0]", "JSON object"]),
    ("id not a string", lambda r: {"records": [r], "id": 5}, 400, ["id", "string"]),
    ("missing field", lambda r: {"records": [_changed(r, age=_DROP)]}, 400, ["age", "no such field"]),
    (
        "wrong type",
        lambda r: {"records": [_changed(r, monthly_charges="lots")]},
        400,
        ["monthly_charges", "numeric", "'lots'"],
    ),
    (
        "wrong boolean",
        lambda r: {"records": [_changed(r, is_senior="perhaps")]},
        400,
        ["is_senior", "boolean"],
    ),
    (
        "wrong datetime",
        lambda r: {"records": [_changed(r, signup_date="yesterday")]},
        400,
        ["signup_date", "datetime"],
    ),
    (
        "infinity",
        lambda r: {"records": [_changed(r, tenure_months=float("inf"))]},
        400,
        ["tenure_months", "finite"],
    ),
    (
        "nan",
        lambda r: {"records": [r, _changed(r, monthly_charges=float("nan"))]},
        400,
        ["monthly_charges", "finite", "row 1"],
    ),
    ("too many rows", lambda r: {"records": [r] * 51}, 413, ["51 rows", "at most 50"]),
    ("too many bytes", lambda r: {"records": [_changed(r, note="x" * 70_000)]}, 413, ["64000 bytes"]),
]


@pytest.mark.parametrize("case", PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES])
def test_bad_predict_requests_name_the_field(server, record, case):
    _, body, status, words = case
    body = body(record) if callable(body) else body
    content = body if isinstance(body, str) else json.dumps(body)  # json.dumps writes NaN and Infinity
    response = httpx.post(
        f"{server.url}/predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    for word in words:
        assert word in error, (word, error)


INFER_CASES = [
    ("missing input", lambda b: _infer(b, "age", drop=True), 400, ["missing input", "'age'"]),
    (
        "wrong datatype values",
        lambda b: _infer(b, "age", data=["a", "b", "c"]),
        400,
        ["'age'", "INT64", "integers", "'a'"],
    ),
    ("unknown datatype", lambda b: _infer(b, "age", datatype="FP128"), 400, ["'age'", "datatype", "FP128"]),
    (
        "shape and data differ",
        lambda b: _infer(b, "age", shape=[4, 1]),
        400,
        ["'age'", "shape", "data has 3"],
    ),
    ("two columns", lambda b: _infer(b, "age", shape=[3, 2]), 400, ["'age'", "[N, 1]"]),
    (
        "rows differ",
        lambda b: _infer(b, "age", shape=[2], data=[30, 40]),
        400,
        ["same number of rows", "'age' has 2"],
    ),
    ("data not a list", lambda b: _infer(b, "age", data=5), 400, ["'age'", "data must be a list"]),
    (
        "unknown tensor field",
        lambda b: _infer(b, "age", dtype="x"),
        400,
        ["inputs[", "unknown field", "dtype"],
    ),
    (
        "binary data",
        lambda b: _infer(b, "age", parameters={"binary_data_size": 24}),
        400,
        ["binary", "binary_data=False"],
    ),
    (
        "parameters not an object",
        lambda b: _infer(b, "age", parameters=[1]),
        400,
        ["'age'.parameters", "JSON object"],
    ),
    (
        "top-level parameters not an object",
        lambda b: _infer(b, parameters="x"),
        400,
        ["parameters", "JSON object"],
    ),
    ("duplicate input", lambda b: {"inputs": b["inputs"] + b["inputs"][:1]}, 400, ["given twice"]),
    ("unknown output", lambda b: _infer(b, outputs=[{"name": "scores"}]), 400, ["outputs", "scores"]),
    ("unknown top-level field", lambda b: _infer(b, input=[]), 400, ["unknown field", "input"]),
    ("no inputs", lambda b: {"inputs": []}, 400, ["inputs", "non-empty"]),
    (
        "value of wrong kind",
        lambda b: _infer(b, "monthly_charges", datatype="BYTES", data=["a", "b", "c"]),
        400,
        ["monthly_charges", "numeric"],
    ),
    (
        "null in not-nullable",
        lambda b: _infer(b, "monthly_charges", data=[1.0, None, 2.0]),
        400,
        ["monthly_charges", "not nullable"],
    ),
]


@pytest.mark.parametrize("case", INFER_CASES, ids=[c[0] for c in INFER_CASES])
def test_bad_infer_requests_name_the_field(server, oip, case):
    _, make, status, words = case
    response = httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json=make(oip))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    for word in words:
        assert word in error, (word, error)


def test_a_valid_oip_body_is_accepted(server, oip):
    response = httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json=oip)
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["predict", "probabilities"]


def test_lenient_by_default_unknown_category_and_field_are_warnings(server, record):
    body = {"records": [_changed(record, contract="weekly", colour="blue")]}
    response = httpx.post(f"{server.url}/predict", json=body)
    assert response.status_code == 200, response.text
    warnings = " ".join(response.json()["warnings"])
    assert "contract" in warnings and "'weekly'" in warnings and "colour: unknown field" in warnings


def test_strict_refuses_unknown_category_and_field(registry, record, tmp_path):
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}", strict=True) as running:
        for change, field in (({"contract": "weekly"}, "contract"), ({"colour": "blue"}, "colour")):
            response = httpx.post(f"{running.url}/predict", json={"records": [_changed(record, **change)]})
            assert response.status_code == 400 and field in response.json()["error"], response.text
        assert httpx.post(f"{running.url}/predict", json={"records": [record]}).status_code == 200


def test_errors_in_one_request_do_not_touch_others_in_the_same_batch(server, record):
    """Concurrent good and bad requests share micro-batches; each gets its own verdict."""
    import asyncio

    async def main():
        async with httpx.AsyncClient(base_url=server.url) as http:
            bodies = [
                {"records": [record]} if i % 2 else {"records": [_changed(record, age="old")]}
                for i in range(20)
            ]
            return await asyncio.gather(*(http.post("/predict", json=b) for b in bodies))

    statuses = [r.status_code for r in asyncio.run(main())]
    assert statuses == [400, 200] * 10


def test_refusals_are_counted_by_kind(server):
    httpx.post(f"{server.url}/predict", content=b"{")
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'fieldguide_errors_total{kind="malformed_json"}' in metrics
    assert 'fieldguide_requests_total{route="predict",status="400"}' in metrics


def test_an_answer_json_cannot_carry_is_refused_naming_the_inputs_out_of_range(tmp_path):
    """A log-link model's prediction for an input far beyond training overflows to infinity: the request gets a
    422 naming the row and the input, where it got a 500 (JSON has no infinity); other requests are answered."""
    import numpy as np
    import polars as pl

    from fieldguide.models import PoissonRegressor
    from fieldguide.pipeline import Pipeline
    from fieldguide.registry import Registry

    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=300)
    table = pl.DataFrame({"x": x, "y": rng.poisson(np.exp(1 + x))})
    saved = Pipeline.fit(table, "y", PoissonRegressor()).save(tmp_path / "poisson")
    with Registry(f"sqlite:///{tmp_path / 'r.db'}", artifact_root=tmp_path / "artifacts") as registry:
        registry.register(MODEL, saved)
        with serving(registry, f"sqlite:///{tmp_path / 'log.db'}", ref=1) as running:
            bad = {"records": [{"x": 1.0}, {"x": 1e6}]}
            response = httpx.post(f"{running.url}/predict", json=bad)
            assert response.status_code == 422, response.text
            low, high = table["x"].min(), table["x"].max()
            assert response.json()["error"] == (
                f"the model's answer for row(s) 1 is not a finite number; row 1 has x = 1e+06 (training range "
                f"{low:g} to {high:g}); check those inputs"
            )
            oip = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1e6]}]}
            assert httpx.post(f"{running.url}/v2/models/{MODEL}/infer", json=oip).status_code == 422
            good = httpx.post(f"{running.url}/predict", json={"records": [{"x": 1.0}]})
            assert good.status_code == 200 and good.json()["predictions"][0] == pytest.approx(
                np.e**2, rel=0.2
            )
            metrics = httpx.get(f"{running.url}/metrics").text
            assert 'fieldguide_errors_total{kind="non_finite_prediction"} 2.0' in metrics
