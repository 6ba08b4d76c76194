"""``fieldguide models``: list, show, alias, delete, and errors as one red line with an exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from fieldguide.registry import Registry
from fieldguide.registry import cli as registry_cli

app = typer.Typer()
registry_cli.register(app)


@app.callback()
def _root() -> None:
    """Keeps ``models`` a sub-command, as in the real CLI."""


def models(registry_url: str, artifact_root, verb: str, *args: str):
    """Run ``fieldguide models VERB`` on the test registry; options in ``args`` come later and win."""
    options = ["--registry", registry_url, "--artifacts", str(artifact_root)]
    return CliRunner().invoke(app, ["models", verb, *options, *args], env={"COLUMNS": "200"})


@pytest.fixture
def populated(registry, artifact):
    registry.register("churn", artifact(1), metrics={"roc_auc": 0.8812345}, description="baseline")
    registry.register(
        "churn", artifact(2), metrics={"roc_auc": 0.9123}, params={"C": 0.5}, lineage={"rows": 5000}
    )
    registry.register("fraud", artifact(3))
    registry.set_alias("churn", "champion", 2)
    return registry


def test_list_shows_models_latest_versions_and_aliases(registry_url, populated):
    result = models(registry_url, populated.artifact_root, "list")
    assert result.exit_code == 0, result.output
    churn = next(line for line in result.stdout.splitlines() if "churn" in line)
    assert "│ 2 " in churn and "champion→2" in churn
    assert "fraud" in result.stdout


def test_list_of_an_empty_registry_says_so(registry_url, registry):
    result = models(registry_url, registry.artifact_root, "list")
    assert result.exit_code == 0 and "no models registered" in result.stdout


def test_show_lists_versions_then_one_version_in_detail(registry_url, populated):
    result = models(registry_url, populated.artifact_root, "show", "churn")
    assert result.exit_code == 0, result.output
    assert "roc_auc=0.8812" in result.stdout and "baseline" in result.stdout and "champion" in result.stdout
    detail = models(registry_url, populated.artifact_root, "show", "churn", "champion")
    assert detail.exit_code == 0, detail.output
    assert "churn version 2" in detail.stdout
    for expected in ("metric roc_auc", "0.9123", "params C", "0.5", "lineage rows", "5000", "4 ("):
        assert expected in detail.stdout
    assert populated.get("churn", 2).checksum in detail.stdout


def test_alias_points_and_reports_the_move(registry_url, populated):
    result = models(registry_url, populated.artifact_root, "alias", "churn", "champion", "1")
    assert result.exit_code == 0, result.output
    assert "champion → version 1 (was 2)" in result.stdout
    assert populated.aliases("churn") == {"champion": 1}


def test_delete_refuses_an_aliased_version_then_forces(registry_url, populated):
    refused = models(registry_url, populated.artifact_root, "delete", "churn", "2")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: model 'churn' version 2 is the target of alias champion")
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.output
    forced = models(registry_url, populated.artifact_root, "delete", "churn", "2", "--force")
    assert forced.exit_code == 0, forced.output
    assert [v.version for v in populated.versions("churn")] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nope"), "no model named 'nope'"),
        (("show", "churn", "9"), "no version 9"),
        (("alias", "churn", "champion", "7"), "no version 7"),
        (("delete", "churn", "1", "--registry", "mysql://u:pw@h/db"), "supports sqlite and postgresql"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(registry_url, populated, args, message):
    result = models(registry_url, populated.artifact_root, *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("verb", ["list", "show", "alias", "delete"])
def test_every_verb_has_help(verb):
    result = CliRunner().invoke(app, ["models", verb, "--help"])
    assert result.exit_code == 0 and "--registry" in result.stdout


def test_the_fieldguide_command_has_the_models_verbs(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with Registry(url, artifact_root=tmp_path / "artifacts"):
        pass
    command = [sys.executable, "-m", "fieldguide", "models", "show", "churn", "--registry", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no model named 'churn' in registry {url}; it holds no models yet"
