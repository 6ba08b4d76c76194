"""The prediction log (SQLite and PostgreSQL) and the admin routes that reload the model and flush the log."""

from __future__ import annotations

import logging

import httpx
import numpy as np
import pytest

from serve_support import MODEL, TOKEN, log_rows, serving


def test_one_row_per_answered_request_with_inputs_outputs_and_version(registry, fitted, log_url):
    records = fitted.records(5)
    records[0]["customer_id"] = 123  # an identifier column is logged (monitoring joins labels on it)
    records[1]["colour"] = "blue"  # an unknown field is reported, not logged
    with serving(registry, log_url) as running:
        answered = httpx.post(f"{running.url}/predict", json={"records": records, "id": "first"}).json()
        refused = httpx.post(f"{running.url}/predict", json={"records": [{"age": "x"}]})
        assert refused.status_code == 400
        infer = {
            "id": "second",
            "inputs": [{"name": "age", "shape": [1], "datatype": "INT64", "data": [40]}]
            + [
                {"name": c.name, "shape": [1], "datatype": "BYTES", "data": [str(records[2][c.name])]}
                for c in fitted.v1.schema.features
                if c.name != "age"
            ],
        }
        assert httpx.post(f"{running.url}/v2/models/{MODEL}/infer", json=infer).status_code == 200
    rows = log_rows(log_url)  # the server has stopped: its shutdown wrote everything
    assert [r["request_id"] for r in rows] == ["first", "second"]
    first = rows[0]
    assert (first["model_name"], first["model_version"], first["route"], first["n_rows"]) == (
        MODEL,
        1,
        "predict",
        5,
    )
    assert first["inputs"][0]["customer_id"] == 123 and "colour" not in first["inputs"][1]
    assert first["inputs"][2]["contract"] == records[2]["contract"]
    assert first["outputs"]["predictions"] == answered["predictions"]
    assert first["outputs"]["probabilities"] == answered["probabilities"]
    assert first["warnings"] == ["colour: unknown field, not in the model's schema"]
    assert first["latency_ms"] > 0 and first["created_at"] is not None
    assert rows[1]["route"] == "infer" and rows[1]["inputs"][0]["age"] == 40
    np.testing.assert_array_equal(first["outputs"]["predictions"], fitted.v1.predict(fitted.rows.head(5)))


def test_admin_routes_are_off_without_a_token(registry, tmp_path):
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}") as running:
        response = httpx.post(f"{running.url}/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404 and "FIELDGUIDE_ADMIN_TOKEN" in response.json()["error"]


def test_admin_routes_need_the_bearer_token_which_is_never_logged(registry, fitted, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    with serving(registry, log_url, admin_token=TOKEN, log_interval_s=3600, log_batch_rows=10_000) as running:
        for headers in ({}, {"authorization": "Bearer wrong-token-of-some-length"}, {"authorization": TOKEN}):
            response = httpx.post(f"{running.url}/admin/flush-log", headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
        admin = {"authorization": f"Bearer {TOKEN}"}
        for _ in range(3):
            httpx.post(f"{running.url}/predict", json={"records": fitted.records(2)})
        assert log_rows(log_url) == []  # nothing written yet: the interval is an hour
        assert httpx.post(f"{running.url}/admin/flush-log", headers=admin).json() == {
            "written": 3,
            "queued": 0,
        }
        assert len(log_rows(log_url)) == 3

        assert httpx.post(f"{running.url}/admin/reload", headers=admin).json()["changed"] is False
        registry.set_alias(MODEL, "champion", 2)
        reloaded = httpx.post(f"{running.url}/admin/reload", headers=admin).json()
        assert reloaded == {"model": MODEL, "previous": 1, "version": 2, "changed": True}
        assert (
            httpx.post(f"{running.url}/predict", json={"records": fitted.records(1)}).json()["version"] == 2
        )
        assert 'fieldguide_model_version{model="churn"} 2.0' in httpx.get(f"{running.url}/metrics").text
    assert TOKEN not in caplog.text


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(registry, fitted, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{}")  # not a pipeline
    admin = {"authorization": f"Bearer {TOKEN}"}
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}", admin_token=TOKEN) as running:
        registry.register(MODEL, broken)
        registry.set_alias(MODEL, "champion", 3)
        response = httpx.post(f"{running.url}/admin/reload", headers=admin)
        assert response.status_code == 500
        assert (
            "still serving version 1" in response.json()["error"]
            and "manifest.json" in response.json()["error"]
        )
        assert (
            httpx.post(f"{running.url}/predict", json={"records": fitted.records(1)}).json()["version"] == 1
        )
        assert (
            'fieldguide_model_reloads_total{outcome="failed"} 1.0' in httpx.get(f"{running.url}/metrics").text
        )


def test_failed_log_writes_keep_their_rows_until_the_database_answers(
    registry, fitted, tmp_path, monkeypatch
):
    """Rows are never dropped: a failing write keeps them queued, counts the failure and is retried."""
    from fieldguide.serve import PredictionLog

    broken = True
    write = PredictionLog._write

    def flaky(self, rows):
        if broken:
            raise OSError("database is unreachable (injected)")
        write(self, rows)

    monkeypatch.setattr(PredictionLog, "_write", flaky)
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    with serving(registry, log_url, log_interval_s=0.05) as running:
        for i in range(4):
            body = {"records": fitted.records(1), "id": f"r{i}"}
            assert httpx.post(f"{running.url}/predict", json=body).status_code == 200
        metrics = _wait_for(running.url, 'fieldguide_errors_total{kind="log_write"}')
        assert "fieldguide_prediction_log_queue_rows 4.0" in metrics
        broken = False
    assert [r["request_id"] for r in log_rows(log_url)] == ["r0", "r1", "r2", "r3"]


def _wait_for(url: str, needle: str, patience_s: float = 60.0) -> str:
    """/metrics once it shows ``needle``: the writer retries on its own clock, which a loaded machine stretches."""
    import time

    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics").text
        if needle in text:
            return text
        time.sleep(0.05)
    pytest.fail(f"{needle} did not appear in /metrics within {patience_s:.0f} s")
