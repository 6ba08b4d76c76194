"""``fieldguide check`` through the CLI: malformed files give a clear one-line message and an exit code."""

import gzip
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fieldguide.cli import app
from fieldguide.data import synthetic

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["check", *map(str, args)])


def write(path, content: bytes):
    path.write_bytes(content)
    return path


MALFORMED = {
    "empty.csv": (b"", "empty"),
    "header_only.csv": (b"a,b,c\n", "no rows"),
    "ragged.csv": (b"a,b\n1,2\n3,4,5\n", "line 3 has 3 fields, expected 2"),
    "garbage.csv": (bytes(range(256)) * 40, "binary"),
    "garbage.csv.gz": (b"\x1f\x8b\x08not really gzip", "could not read"),
    "table.xlsx": (b"PK\x03\x04", "unsupported extension"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_exits_2_with_one_line(tmp_path, name):
    content, expected = MALFORMED[name]
    result = run(write(tmp_path / name, content))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path):
    result = run(tmp_path / "nope.csv")
    assert result.exit_code == 2 and "no such file" in result.output


def test_bad_encoding_is_read_with_a_warning(tmp_path):
    path = write(tmp_path / "latin.csv", "city,n\nZürich,1\nMálaga,2\n".encode("latin-1") * 20)
    result = run(path, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    (load,) = [f for f in report["findings"] if f["id"] == "C-1 load"]
    assert load["severity"] == "warn" and "not UTF-8" in load["message"]


def test_all_null_target_fails_band_a(tmp_path):
    path = write(tmp_path / "t.csv", b"x,y\n" + b"".join(f"{i},\n".encode() for i in range(50)))
    result = run(path, "--target", "y", "--json", tmp_path / "r.json", "--require", "A3")
    assert result.exit_code == 1
    assert "target 'y' is empty" in result.output
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert [f["severity"] for f in findings if f["id"] == "A-1 target"] == ["fail"]


def test_unknown_target_is_named(tmp_path):
    path = tmp_path / "t.csv"
    synthetic.customers(200).write_csv(path)
    result = run(path, "--target", "nope")
    assert result.exit_code == 0 and "'nope' is not a column" in result.output


def test_ignore_names_the_unknown_column(tmp_path):
    path = tmp_path / "t.csv"
    synthetic.customers(200).write_csv(path)
    result = run(path, "--target", "churn", "--ignore", "region, refnd")
    assert result.exit_code == 2
    assert "ignore: 'refnd' is not a column; columns are customer_id" in " ".join(result.output.split())
    ignored = run(path, "--target", "churn", "--ignore", "region,customer_id", "--json", tmp_path / "r.json")
    assert ignored.exit_code == 0, ignored.output
    columns = json.loads((tmp_path / "r.json").read_text())["columns"]
    assert [c["name"] for c in columns if c["role"] == "ignored"] == ["customer_id", "region"]


def test_missing_items_must_be_column_equals_value(tmp_path):
    path = tmp_path / "t.csv"
    synthetic.customers(200).write_csv(path)
    result = run(path, "--target", "churn", "--missing", "age=-1,support_calls")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        "--missing: expected COLUMN=VALUE items separated by commas, found 'support_calls'" in result.output
    )
    declared = run(
        path, "--target", "churn", "--missing", "age=-1, region=n/a", "--json", tmp_path / "r.json"
    )
    assert declared.exit_code == 0, declared.output


def test_require_gates_on_the_level(tmp_path):
    path = tmp_path / "c.csv"
    synthetic.customers(400, seed=4).write_csv(path)
    passed = run(path, "--target", "churn", "--require", "B1")
    assert passed.exit_code == 0, passed.output
    assert "Readiness level" in passed.output
    failed = run(path, "--target", "churn", "--require", "A1", "--json", tmp_path / "r.json")
    level = json.loads((tmp_path / "r.json").read_text())["level"]
    assert failed.exit_code == (0 if level == "A1" else 1)
    assert run(path, "--require", "Z9").exit_code == 2


def test_demo_writes_a_self_contained_html_and_stable_json(tmp_path):
    result = run("--demo", "--html", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # missingness chart and a flagged column
    assert "<link" not in page and "http" not in page.replace("http-equiv", "")
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report) == {
        "fieldguide_readiness", "source", "level", "levels", "n_rows", "n_columns", "sampled_rows", "target", "task",
        "counts", "findings", "columns",
    }  # fmt: skip
    assert set(report["findings"][0]) == {
        "id", "band", "blocks", "severity", "message", "action", "value", "threshold", "columns", "examples",
    }  # fmt: skip
    ids = {f["id"] for f in report["findings"] if f["severity"] != "pass"}
    assert {"C-3 personal-data", "B-1 missing-spellings", "B-4 units", "B-5 duplicates"} <= ids
    assert "@example" not in page and "@example" not in json.dumps(report)


def test_real_process_prints_no_traceback(tmp_path):
    path = write(tmp_path / "bad.csv", b"a,b\n1\n")
    result = subprocess.run(
        [sys.executable, "-m", "fieldguide", "check", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "line 2 has 1 fields" in result.stderr


def test_gzip_csv_is_graded(tmp_path):
    path = tmp_path / "c.csv.gz"
    path.write_bytes(gzip.compress(synthetic.customers(300).write_csv().encode()))
    result = run(path)
    assert result.exit_code == 0 and "Readiness level B1" in result.output
