"""``fieldguide serve`` as a user runs it: clean errors, and a real process that flushes its log on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from fieldguide.cli import app
from fieldguide.serve import free_port, wait_until_ready
from serve_support import MODEL, TOKEN, log_rows


def test_an_unknown_model_is_one_red_line_and_exit_code_2(registry, tmp_path):
    result = CliRunner().invoke(app, ["serve", "nope", "--registry", registry.url.replace("***", "")])
    assert result.exit_code == 2
    assert "no model named 'nope'" in result.output and "Traceback" not in result.output


def test_a_model_without_the_alias_says_how_to_serve_or_promote_it(registry):
    registry.remove_alias(MODEL, "champion")
    result = CliRunner().invoke(app, ["serve", MODEL, "--registry", registry.url])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"model '{MODEL}' has no alias 'champion' (its aliases: none)" in text
    assert f"fieldguide serve {MODEL} --version 2" in text
    assert (
        f"fieldguide evaluate {MODEL} --challenger 2 --data HOLDOUT, then fieldguide promote {MODEL} 2"
        in text
    )
    result = CliRunner().invoke(app, ["serve", MODEL, "--alias", "staging", "--registry", registry.url])
    assert f"fieldguide models alias {MODEL} staging 2" in " ".join(result.output.split())


def test_a_short_admin_token_is_refused(registry, monkeypatch):
    monkeypatch.setenv("FIELDGUIDE_ADMIN_TOKEN", "short")
    result = CliRunner().invoke(app, ["serve", MODEL, "--registry", registry.url])
    assert (
        result.exit_code == 2 and "at least 16 characters" in result.output and "short" not in result.output
    )


@pytest.mark.slow
def test_the_command_serves_and_writes_every_log_row_on_interrupt(registry, fitted, tmp_path):
    port = free_port()
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    command = [
        sys.executable,
        "-m",
        "fieldguide",
        "serve",
        MODEL,
        "--port",
        str(port),
        "--registry",
        registry.url,
    ]
    command += [
        "--artifacts",
        str(registry.artifact_root),
        "--log-database",
        log_url,
        "--max-batch-rows",
        "64",
    ]
    env = {**os.environ, "FIELDGUIDE_ADMIN_TOKEN": TOKEN}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(f"{url}/v2/health/ready", process)
        for i in range(5):
            body = {"records": fitted.records(2), "id": f"cli-{i}"}
            assert httpx.post(f"{url}/predict", json=body).status_code == 200
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"serving {MODEL} version 1" in output and TOKEN not in output
    assert [r["request_id"] for r in log_rows(log_url)] == [f"cli-{i}" for i in range(5)]
