"""``fieldguide compare``: writes the PNG plots, the HTML report and the JSON; bad arguments are one red line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fieldguide.cli import app
from fieldguide.data import synthetic


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "table.csv"
    synthetic.regression_table(150, n_features=3, seed=1).write_csv(path)
    return path


def run(*args: str):
    return CliRunner().invoke(app, ["compare", *map(str, args)])


def test_cli_writes_plots_html_and_json(table, tmp_path):
    result = run(
        table, "--target", "y", "--models", "Ridge, Lasso", "--folds", "3", "--repeats", "1",
        "--html", tmp_path / "report.html", "--plots", tmp_path / "plots", "--json", tmp_path / "result.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "result.json").read_text())
    recommended = written["recommendation"]["model"]
    assert written["metric"] == {"name": "rmse", "greater_is_better": False}
    assert {row["model"] for row in written["summary"]} == {"DummyRegressor", "Ridge", "Lasso"}
    assert len(written["results"]) == 3 * 3
    assert f"Recommended: {recommended}" in " ".join(result.stdout.split())
    for name in ("scores.png", "fit_times.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.html").read_text()
    assert report.count("src='data:image/png;base64,") == 2
    assert f"<b>Recommended:</b> {recommended}" in report


def test_cli_time_orders_the_folds(table, tmp_path):
    result = run(
        table,
        "--target",
        "y",
        "--models",
        "Ridge",
        "--time",
        "x0",
        "--folds",
        "3",
        "--json",
        tmp_path / "r.json",
    )
    assert result.exit_code == 0, result.output
    assert "3 time-ordered folds by 'x0'" in " ".join(result.stdout.split())
    written = json.loads((tmp_path / "r.json").read_text())
    assert (written["time"], written["repeats"]) == ("x0", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "price"],
            "target 'price' is not a column; columns are ['x0', 'x1', 'x2', 'segment', 'y']",
        ),
        (["--target", "y", "--models", "Forest"], "models: unknown 'Forest' for a regression target"),
        (["--target", "y", "--metric", "auc"], "metric: expected one of roc_auc"),
        (["--target", "y", "--backend", "dask"], "backend: expected one of local, ray, found 'dask'"),
        (["--target", "y", "--address", "ray://head:10001"], "--address is for --backend ray"),
        (["--target", "y", "--gpus-per-task", "0.5"], "--gpus-per-task is for --backend ray"),
        (["--target", "y", "--jobs", "0"], "n_jobs: expected a positive number"),
        (["--target", "y", "--ignore", "x0,x9"], "ignore: 'x9' is not a column; columns are x0, x1, x2"),
        (
            ["--target", "y", "--time", "x0", "--repeats", "3"],
            "time-ordered folds are the same on every repeat",
        ),
    ],
)
def test_cli_bad_arguments_are_one_clean_line(table, args, message):
    result = run(table, *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_cli_missing_file_is_a_clean_error(tmp_path):
    result = run(tmp_path / "nope.csv", "--target", "y")
    assert result.exit_code == 2
    assert "nope.csv: no such file" in result.stderr


def test_cli_compares_a_sample_and_says_so(table, tmp_path):
    result = run(
        table, "--target", "y", "--models", "Ridge", "--folds", "3", "--repeats", "1", "--sample", "90",
        "--json", tmp_path / "result.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "on 90 rows (a sample of 150)" in " ".join(result.stdout.split())
    written = json.loads((tmp_path / "result.json").read_text())
    assert (written["n_rows"], written["sampled_from"]) == (90, 150)
    refused = run(table, "--target", "y", "--sample", "0")
    assert refused.exit_code == 2 and "sample: expected a positive number of rows, found 0" in refused.output
