"""Configuration: flags over environment variables over the TOML file over built-in defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fieldguide import _config
from fieldguide.errors import ConfigError


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("FIELDGUIDE_") or k == "FIELDGUIDE_CACHE"
    }
    return subprocess.run(
        [sys.executable, "-m", "fieldguide", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**clean, "COLUMNS": "200", **env},
    )


def test_the_file_sets_the_home_and_verb_defaults_and_flags_and_variables_win(tmp_path):
    (tmp_path / "fieldguide.toml").write_text(
        f'home = "team-home"\n\n[models.show]\nregistry = "sqlite:///{tmp_path / "shown.db"}"\n'
    )
    listed = run(tmp_path, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"sqlite:///{tmp_path / 'team-home' / 'registry.db'}" in listed.stdout  # relative to the file
    shown = run(tmp_path, "models", "show", "churn")
    assert "shown.db" in shown.stderr, shown.stderr  # the verb's default: that registry has no model 'churn'

    variable = run(tmp_path, "models", "list", FIELDGUIDE_HOME=str(tmp_path / "from-env"))
    assert str(tmp_path / "from-env" / "registry.db") in variable.stdout
    flag = run(tmp_path, "models", "list", "--registry", f"sqlite:///{tmp_path / 'flag.db'}")
    assert str(tmp_path / "flag.db") in flag.stdout

    shown = run(tmp_path, "config")
    assert shown.returncode == 0, shown.stderr
    assert f"file: {tmp_path / 'fieldguide.toml'}" in shown.stdout
    assert f"home: {tmp_path / 'team-home'}  (file)" in shown.stdout
    assert f"models show: --registry 'sqlite:///{tmp_path / 'shown.db'}'" in shown.stdout


def test_config_never_prints_a_registry_password(tmp_path):
    (tmp_path / "fieldguide.toml").write_text('registry = "postgresql+psycopg://fg:s3cret@db.internal/ml"\n')
    shown = run(tmp_path, "config")
    assert shown.returncode == 0, shown.stderr
    assert (
        "s3cret" not in shown.stdout and "postgresql+psycopg://fg:***@db.internal/ml  (file)" in shown.stdout
    )


def test_an_explicit_file_and_pyproject_are_found(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.fieldguide]\nhome = "h1"\n')
    assert f"home: {tmp_path / 'h1'}" in run(tmp_path, "config").stdout
    other = tmp_path / "conf" / "prod.toml"
    other.parent.mkdir()
    other.write_text('home = "h2"\n')
    for result in (
        run(tmp_path, "--config", str(other), "config"),
        run(tmp_path, "config", FIELDGUIDE_CONFIG=str(other)),
    ):
        assert f"home: {tmp_path / 'conf' / 'h2'}  (file)" in result.stdout, result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[trian]\nbudget = '1s'\n", "unknown key 'trian'; known: ["),
        ("[train]\nbudjet = '1s'\n", "[train] has no option 'budjet'; its options: ["),
        ("[models.exprt]\nonnx = 'a'\n", "unknown verb models.'exprt'"),
        ("home = 3\n", "home must be a non-empty string, found 3"),
        ("[train\n", "not readable TOML"),
    ],
)
def test_a_wrong_file_is_one_line_naming_file_and_key(tmp_path, text, message):
    (tmp_path / "fieldguide.toml").write_text(text)
    result = run(tmp_path, "models", "list")
    assert result.returncode == 2
    assert "fieldguide.toml" in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_explicit_file_is_refused(tmp_path):
    result = run(tmp_path, "--config", "nowhere.toml", "models", "list")
    assert result.returncode == 2 and "--config: nowhere.toml is not a file" in result.stderr


def test_lists_become_comma_separated_options_and_names_take_dashes_or_underscores(tmp_path, monkeypatch):
    import typer

    from fieldguide.cli import app

    monkeypatch.delenv("FIELDGUIDE_HOME", raising=False)  # apply_config sets it; monkeypatch restores it
    commands = typer.main.get_group(app).commands
    path = tmp_path / "fieldguide.toml"
    data = {"home": "h", "train": {"ignore": ["a", "b"], "time": "when"}, "serve": {"max-batch-rows": 16}}
    defaults = _config.apply_config(path, data, commands)
    assert defaults["train"]["ignore"] == "a,b" and defaults["train"]["time_column"] == "when"
    assert defaults["serve"] == {"max_batch_rows": 16}
    assert os.environ["FIELDGUIDE_HOME"] == str(tmp_path / "h")
    with pytest.raises(ConfigError, match=r"\[serve\] has no option 'nope'"):
        _config.apply_config(path, {"serve": {"nope": 1}}, commands)


def test_the_python_api_reads_the_file_too_and_the_environment_wins(tmp_path, monkeypatch):
    for variable in ("FIELDGUIDE_HOME", "FIELDGUIDE_REGISTRY", "FIELDGUIDE_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    assert _config.home() == tmp_path.joinpath(".fieldguide").relative_to(tmp_path)  # no file: the default
    (tmp_path / "fieldguide.toml").write_text(
        f'home = "shared"\nregistry = "sqlite:///{tmp_path / "r.db"}"\n'
    )
    assert _config.home() == tmp_path / "shared"
    assert _config.registry_url() == f"sqlite:///{tmp_path / 'r.db'}"
    from fieldguide.registry import Registry

    with Registry() as registry:
        assert registry.url == f"sqlite:///{tmp_path / 'r.db'}"
        assert registry.artifact_root == tmp_path / "shared" / "artifacts"
    monkeypatch.setenv("FIELDGUIDE_HOME", str(tmp_path / "env-home"))
    assert _config.home() == tmp_path / "env-home"
    (tmp_path / "fieldguide.toml").write_text("home = 7\n")  # a new version of the file is read again
    monkeypatch.delenv("FIELDGUIDE_HOME")
    with pytest.raises(ConfigError, match="home must be a non-empty string"):
        _config.home()
