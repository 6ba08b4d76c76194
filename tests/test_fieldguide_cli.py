import subprocess
import sys

import fieldguide


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fieldguide", *args], capture_output=True, text=True, timeout=120
    )


def test_version_prints_package_version():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fieldguide {fieldguide.__version__}"


def test_help_lists_verbs():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_atomic_write_respects_umask(tmp_path):
    import os

    from fieldguide._files import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "report.html", b"<html></html>")
    finally:
        os.umask(old)
    assert (tmp_path / "report.html").read_bytes() == b"<html></html>"
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644


def test_cli_import_loads_no_heavy_library():
    # capability packages export lazily (fieldguide._lazy), so `fieldguide --help` never waits for JAX & co.
    code = (
        "import sys, fieldguide.cli; "
        "print(','.join(m for m in ('jax', 'polars', 'sklearn', 'scipy', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_every_capability_verb_has_help():
    for verb in ("check", "compare", "train", "evaluate", "promote", "serve", "models"):
        result = run_cli(verb, "--help")
        assert result.returncode == 0, (verb, result.stderr)
        assert "Usage" in result.stdout, verb


def test_the_cli_helpers_docstring_examples_run():
    import doctest

    import fieldguide.cli

    result = doctest.testmod(fieldguide.cli)
    assert result.failed == 0 and result.attempted >= 3
