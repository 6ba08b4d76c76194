"""Schemathesis fuzzes the server against its own OpenAPI document: no 5xx, and every answer as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from serve_support import serving

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_the_openapi_document_describes_every_route(registry, tmp_path):
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}") as running:
        document = httpx.get(f"{running.url}/openapi.json").json()
        routes = {route.path for route in running.app.routes}
    assert set(document["paths"]) == routes
    record = document["components"]["schemas"]["Record"]
    assert "monthly_charges" in record["required"] and "customer_id" not in record["required"]


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(registry, tmp_path):
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with serving(registry, f"sqlite:///{tmp_path / 'log.db'}", max_rows=100) as running:
        done = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{running.url}/openapi.json",
                f"--checks={CHECKS}",
                "--phases=examples,coverage,fuzzing",
                "--max-examples=5",
                "--seed=1",
                "--workers=1",
                "--generation-database=none",
                "--suppress-health-check=all",
                "--request-timeout=30",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,  # where schemathesis keeps its own files
        )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "generated" in done.stdout and " failed" not in done.stdout.split("SUMMARY")[-1]
