"""``fieldguide evaluate`` and ``fieldguide promote`` against a real registry: exit codes, events, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluate_support import fit, planted
from fieldguide.cli import app
from fieldguide.evaluate import PromotionRefused, promote
from fieldguide.models.adapters import DummyClassifier
from fieldguide.registry import Registry


@pytest.fixture
def workspace(tmp_path: Path):
    """A registry holding churn v1 (x0 only), v2 (x0 and x1: better), v3 (a constant: worse), and a holdout."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    train = planted(1500, seed=1)
    pipelines = [
        fit(train, ["x0", "segment"]),
        fit(train, ["x0", "x1", "segment"]),
        fit(train, ["x0"], model=DummyClassifier()),
    ]
    with Registry(url, artifact_root=tmp_path / "artifacts") as reg:
        for i, pipe in enumerate(pipelines, start=1):
            reg.register("churn", pipe.save(tmp_path / f"pipeline-{i}"))
    holdout = tmp_path / "holdout.csv"
    planted(1500, seed=3).write_csv(holdout)
    return {"url": url, "holdout": str(holdout), "tmp": tmp_path, "artifacts": tmp_path / "artifacts"}


def cli(workspace, *args: str):
    env = {"FIELDGUIDE_HOME": str(workspace["tmp"]), "FIELDGUIDE_REGISTRY": workspace["url"]}
    # the registry keeps artifacts under $FIELDGUIDE_HOME/artifacts unless told otherwise
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def registry(workspace):
    with Registry(workspace["url"], artifact_root=workspace["artifacts"]) as reg:
        yield reg


def evaluate_args(workspace, version: str, *extra: str) -> list[str]:
    return [
        "evaluate",
        "churn",
        "--challenger",
        version,
        "--data",
        workspace["holdout"],
        "--resamples",
        "200",
        *extra,
    ]


def test_gate_exit_codes_events_and_promotion(workspace, registry):
    first = cli(workspace, *evaluate_args(workspace, "1"))
    assert first.exit_code == 0, first.output
    assert "no champion yet" in first.output and "verdict: PASS" in first.output
    assert cli(workspace, "promote", "churn", "1").exit_code == 0
    assert registry.aliases("churn")["champion"] == 1

    report, page = workspace["tmp"] / "gate.json", workspace["tmp"] / "gate.html"
    better = cli(
        workspace,
        *evaluate_args(workspace, "2", "--slices", "segment", "--json", str(report), "--html", str(page)),
        "--evidence",
        "interval",
    )
    assert better.exit_code == 0, better.output
    assert "verdict: PASS" in better.output and "slice segment=c" in better.output
    document = json.loads(report.read_text())
    assert document["verdict"]["passed"] and document["champion"]["model"].startswith("churn v1")
    assert document["verdict"]["evidence"] == "interval"
    assert page.read_text().count("data:image/png;base64,") == 2

    worse = cli(workspace, *evaluate_args(workspace, "3", "--slices", "segment"))
    assert worse.exit_code == 1, worse.output
    assert "verdict: FAIL" in worse.output

    gates = [e for e in registry.events("churn") if e.kind == "gate"]
    assert [(e.version, e.detail["verdict"], e.detail["champion_version"]) for e in gates] == [
        (1, "PASS", None),
        (2, "PASS", 1),
        (3, "FAIL", 1),
    ]

    refused = cli(workspace, "promote", "churn", "3")
    assert refused.exit_code == 1 and "FAILED" in refused.output
    assert registry.aliases("churn")["champion"] == 1
    no_reason = cli(workspace, "promote", "churn", "3", "--force")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    forced = cli(workspace, "promote", "churn", "3", "--force", "--reason", "incident 42: roll back the feed")
    assert forced.exit_code == 0, forced.output
    assert registry.aliases("churn")["champion"] == 3
    event = [e for e in registry.events("churn") if e.kind == "promote"][-1]
    assert event.version == 3 and event.detail["forced"] and event.detail["previous"] == 1
    assert (
        event.detail["reason"] == "incident 42: roll back the feed" and "FAILED" in event.detail["override"]
    )

    # v2 passed against v1, but the champion is now v3: that verdict is stale
    with pytest.raises(PromotionRefused, match="gated against champion 1"):
        promote("churn", 2, registry=registry)


def test_promote_refuses_a_version_that_was_never_gated(workspace, registry):
    result = cli(workspace, "promote", "churn", "2")
    assert result.exit_code == 1 and "never gated" in result.output
    assert "champion" not in registry.aliases("churn")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--challenger", "9"], "has no version 9"),
        (["--champion", "7"], "has no version 7"),
        (["--slices", "segment,regoin"], "slice column 'regoin' is not in"),
        (["--sensitive", "gender"], "sensitive column 'gender' is not in"),
        (["--target", "label"], "target column 'label' is not in"),
        (["--metric", "rmse"], "metric 'rmse'"),
        (["--max-drop", "-1"], "max_drop"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(workspace, args, message):
    base = evaluate_args(workspace, "2")
    if args[0] == "--challenger":
        base[base.index("--challenger") + 1] = args[1]
        args = []
    result = cli(workspace, *base, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_holdout_without_the_target_exits_2(workspace):
    holdout = workspace["tmp"] / "unlabelled.csv"
    planted(100, seed=5).drop("y").write_csv(holdout)
    args = evaluate_args(workspace, "2")
    args[args.index("--data") + 1] = str(holdout)
    result = cli(workspace, *args)
    assert (
        result.exit_code == 2
        and "target column 'y' is not in" in result.output
        and str(holdout) in result.output
    )
