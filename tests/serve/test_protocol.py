"""The Open Inference Protocol and /predict against a real uvicorn server: answers equal the pipeline's own."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from fieldguide.serve._openapi import input_datatype
from serve_support import MODEL, serving


def _triton_inputs(fitted, n: int) -> list[triton.InferInput]:
    """One input per feature column, shape [n, 1], JSON data (binary_data=False)."""
    records = fitted.records(n)
    inputs = []
    for spec in fitted.v1.schema.features:
        datatype = input_datatype(spec)
        values = [r[spec.name] for r in records]
        dtype = {"FP64": np.float64, "INT64": np.int64, "BOOL": np.bool_, "BYTES": np.object_}[datatype]
        array = np.array(values, dtype=dtype).reshape(n, 1)
        tensor = triton.InferInput(spec.name, [n, 1], datatype)
        tensor.set_data_from_numpy(array, binary_data=False)
        inputs.append(tensor)
    return inputs


def _without_missing(fitted, n: int) -> int:
    """``n``, after checking the first n rows have no missing values (numpy arrays cannot hold them as ints)."""
    assert fitted.rows.head(n).null_count().sum_horizontal().item() == 0
    return n


def test_tritonclient_and_predict_match_the_pipeline(registry, fitted, tmp_path):
    n = 20
    rows = fitted.rows.head(n)
    expected, expected_proba = fitted.v1.predict(rows), fitted.v1.predict_proba(rows)
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}") as running:
        client = triton.InferenceServerClient(running.hostport)
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
        metadata = client.get_model_metadata(MODEL)
        assert [i["name"] for i in metadata["inputs"]] == [c.name for c in fitted.v1.schema.features]
        outputs = [
            triton.InferRequestedOutput(name, binary_data=False) for name in ("predict", "probabilities")
        ]
        n = _without_missing(fitted, n)
        result = client.infer(MODEL, _triton_inputs(fitted, n), outputs=outputs, request_id="req-1")
        assert result.get_response()["id"] == "req-1"
        assert result.get_response()["model_version"] == "1"
        np.testing.assert_array_equal(result.as_numpy("predict").reshape(-1), expected)
        # the model computes in float32 and the server pads its batch to another shape than this call's: XLA may
        # sum in another order, so probabilities agree to float32 rounding, not bit for bit
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected_proba, rtol=1e-6)
        versioned = client.infer(MODEL, _triton_inputs(fitted, n), model_version="1")
        np.testing.assert_array_equal(versioned.as_numpy("predict").reshape(-1), expected)

        response = httpx.post(f"{running.url}/predict", json={"records": fitted.records(n), "id": "abc"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["model"], body["version"], body["id"], body["warnings"]) == (MODEL, 1, "abc", [])
        np.testing.assert_array_equal(body["predictions"], expected)
        proba = np.array([[p[str(c)] for c in fitted.v1.classes_] for p in body["probabilities"]])
        np.testing.assert_allclose(proba, expected_proba, rtol=1e-6)  # float32 rounding, as above


def test_health_metadata_and_unknown_models(registry, tmp_path):
    with (
        serving(registry, f"sqlite:///{tmp_path / 'log.db'}") as running,
        httpx.Client(base_url=running.url) as http,
    ):
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/health/ready").json() == {"ready": True}
        assert http.get("/v2").json()["name"] == "fieldguide"
        assert http.get(f"/v2/models/{MODEL}/versions/1").json()["versions"] == ["1"]
        for path, needle in (
            ("/v2/models/nope", "'nope' is not served"),
            (f"/v2/models/{MODEL}/versions/2", "serves version 1"),
            (f"/v2/models/{MODEL}/versions/2/ready", "serves version 1"),
            ("/no/such/route", "Not Found"),
        ):
            response = http.get(path)
            assert response.status_code == 404 and needle in response.json()["error"], (path, response.text)
        infer = http.post("/v2/models/nope/infer", json={"inputs": []})
        assert infer.status_code == 404
        assert http.get("/predict").status_code == 405


@pytest.mark.parametrize("pinned", [True, False])
def test_versions_are_served_by_number_or_alias(registry, fitted, tmp_path, pinned):
    registry.set_alias(MODEL, "champion", 2)
    ref = 2 if pinned else "champion"
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}", ref=ref) as running:
        body = httpx.post(f"{running.url}/predict", json={"records": fitted.records(10)}).json()
        assert body["version"] == 2
        np.testing.assert_array_equal(body["predictions"], fitted.v2.predict(fitted.rows.head(10)))


def test_the_public_surface_resolves_and_importing_it_is_cheap():
    import subprocess
    import sys

    import fieldguide.serve as serve

    assert all(getattr(serve, name) is not None for name in serve.__all__)
    code = "import sys, fieldguide.serve, fieldguide.serve.cli; print('starlette' in sys.modules, 'jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_regressor_answers_values_and_has_no_probabilities(tmp_path):
    from fieldguide.data.synthetic import regression_table
    from fieldguide.models import Ridge
    from fieldguide.pipeline import Pipeline
    from fieldguide.registry import Registry

    pipeline = Pipeline.fit(regression_table(200, n_features=3), target="y", model=Ridge(alpha=1.0))
    rows = regression_table(10, n_features=3, seed=5).drop("y")
    with Registry(f"sqlite:///{tmp_path / 'r.db'}", artifact_root=tmp_path / "artifacts") as reg:
        reg.register(MODEL, pipeline.save(tmp_path / "pipeline"))
        reg.set_alias(MODEL, "champion", 1)
        with (
            serving(reg, f"sqlite:///{tmp_path / 'log.db'}") as running,
            httpx.Client(base_url=running.url) as http,
        ):
            body = http.post("/predict", json={"records": rows.to_dicts()}).json()
            assert body["probabilities"] is None
            np.testing.assert_allclose(body["predictions"], pipeline.predict(rows), rtol=1e-6)
            inputs = [
                {
                    "name": name,
                    "shape": [10],
                    "datatype": "BYTES" if name == "segment" else "FP64",
                    "data": rows[name].to_list(),
                }
                for name in rows.columns
            ]
            infer = http.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs}).json()
            assert [(o["name"], o["datatype"]) for o in infer["outputs"]] == [("predict", "FP64")]
            np.testing.assert_allclose(infer["outputs"][0]["data"], pipeline.predict(rows), rtol=1e-6)
            refused = http.post(
                f"/v2/models/{MODEL}/infer", json={"inputs": inputs, "outputs": [{"name": "probabilities"}]}
            )
            assert refused.status_code == 400 and "regressor" in refused.json()["error"]
            assert http.get(f"/v2/models/{MODEL}").json()["outputs"] == [
                {"name": "predict", "datatype": "FP64", "shape": [-1]}
            ]
            document = http.get("/openapi.json").json()
            assert document["components"]["schemas"]["RequestOutput"]["properties"]["name"]["enum"] == [
                "predict"
            ]
