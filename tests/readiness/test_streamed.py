"""``check(..., sample=N)``: a Parquet table read in streaming passes, counts over every row, the rest on a sample.

The reference is the in-memory check of the same table: every count-based finding must be the same, word for
word, with the same example rows.
"""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from fieldguide.cli import app
from fieldguide.errors import FieldguideError
from fieldguide.readiness import _check, _table, check
from fieldguide.readiness._demo import DEFECTS, TARGET, planted

# Findings that read the sample (or say how the table was read), and so may differ from the in-memory check's.
FROM_SAMPLE = {"C-1 load", "C-2 schema", "B-4 units", "A-3 leakage", "A-4 learnability"}


def every_defect(n_rows=3000, seed=0):
    """The customers table with every planted defect but the leaked target (its A-3 reads the sample), plus a
    rare numeric sentinel and an extreme value; rows are duplicated, and made to conflict, last."""
    df = planted("clean", n_rows, seed).with_columns(
        pl.when(pl.int_range(pl.len()) % 400 == 7)
        .then(-999)
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months"),
        pl.when(pl.int_range(pl.len()) == 1234)
        .then(1e7)
        .otherwise(pl.col("monthly_charges"))
        .alias("monthly_charges"),
    )
    rng = np.random.default_rng(seed + 1)
    last = ("duplicate_rows", "conflicting_rows")
    for name in [n for n in DEFECTS if n not in (*last, "leaked_target")] + list(last):
        df = DEFECTS[name](df, rng)
    return df


def by_id(report):
    return {(f.id, f.columns): f for f in report.findings}


@pytest.fixture
def small_memory(monkeypatch):
    """A memory budget that splits the duplicate and distinct-value passes into several slices of the hashes."""
    monkeypatch.setattr(_table, "memory_budget", lambda: 700 * _table.BYTES_PER_GROUP)


@pytest.fixture
def no_whole_read(monkeypatch):
    """Reading the whole table fails: a streamed check must never do it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the whole table was read")

    monkeypatch.setattr(_check, "read", refuse)


def test_counts_over_every_row_match_the_in_memory_check(tmp_path, small_memory, request):
    df = every_defect()
    path = tmp_path / "customers.parquet"
    df.write_parquet(path, row_group_size=500)
    whole = check(path, target=TARGET)
    request.getfixturevalue("no_whole_read")
    streamed = check(path, target=TARGET, sample=800)
    assert whole.sampled is None and streamed.sampled is not None and 600 < streamed.sampled < 1000
    assert streamed.n_rows == whole.n_rows == df.height
    expected, found = by_id(whole), by_id(streamed)
    compared = [key for key in expected if key[0] not in FROM_SAMPLE]
    assert set(compared) == {key for key in found if key[0] not in FROM_SAMPLE}
    assert {"C-3 personal-data", "B-1 missing-spellings", "B-2 mixed-types", "B-3 category-variants"} <= {
        k[0] for k in compared if expected[k].severity != "pass"
    }
    assert {"B-5 duplicates", "B-6 conflicting-labels", "B-8 constant", "B-10 outliers"} <= {
        k[0] for k in compared if expected[k].severity != "pass"
    }
    for key in compared:
        a, b = expected[key], found[key]
        assert (a.severity, a.message, a.value) == (b.severity, b.message, b.value), key
        assert a.examples == b.examples, key
    assert streamed.columns == whole.columns  # missing rates over every row
    assert "streaming passes" in found[("C-1 load", ())].message
    assert "from the sample" in found[("C-2 schema", ())].message


def test_a_column_of_many_distinct_values_is_read_on_the_sample(tmp_path, monkeypatch):
    n = 4000
    rng = np.random.default_rng(3)
    emails = [f"user{i}@example.com" for i in range(n)]
    notes = [("NA" if i % 50 == 0 else f"note {i}") for i in range(n)]
    df = pl.DataFrame({"email": emails, "note": notes, "x": rng.normal(size=n)})
    path = tmp_path / "t.parquet"
    df.write_parquet(path)
    monkeypatch.setattr(_check, "DISTINCT_LIMIT", 100)
    report = check(path, sample=1000)
    (pii,) = [f for f in report.findings if f.id == "C-3 personal-data"]
    assert f"(in a sample of {report.sampled:,} rows)" in pii.message
    assert pii.examples and all("@" in e["email"] and "*" in e["email"] for e in pii.examples)
    # the spellings of missing are still counted over every row
    (spelled,) = [f for f in report.findings if f.id == "B-1 missing-spellings" and f.columns == ("note",)]
    assert [e["row"] for e in spelled.examples] == [0]
    assert next(c for c in report.columns if c["name"] == "note")["missing"] == 0.02


def test_a_table_larger_than_the_memory_budget_is_streamed_by_itself(tmp_path, monkeypatch, no_whole_read):
    df = every_defect(2000)
    path = tmp_path / "t.parquet"
    df.write_parquet(path)
    monkeypatch.setattr(_table, "memory_budget", lambda: 10_000)
    monkeypatch.setattr(_check, "memory_budget", lambda: 10_000)
    monkeypatch.setattr(_check, "DEFAULT_SAMPLE", 500)
    report = check(path)
    assert report.sampled is not None and report.n_rows == df.height
    assert "GiB in memory, read in streaming passes" in report.findings[0].message


def test_a_parquet_dataset_directory_is_streamed(tmp_path, no_whole_read):
    df = every_defect(2000).with_columns(part=pl.int_range(pl.len()) % 3)
    df.write_parquet(tmp_path / "data", partition_by="part")
    report = check(tmp_path / "data", sample=700)
    assert report.n_rows == df.height and report.sampled is not None
    assert "part" in [c["name"] for c in report.columns]


@pytest.mark.parametrize("form", ["csv", "frame"])
def test_other_sources_are_read_whole_then_sampled(tmp_path, form):
    df = every_defect(2000)
    if form == "csv":
        path = tmp_path / "t.csv"
        df.write_csv(path)
        data, whole = path, check(path, target=TARGET)
    else:
        data, whole = df, check(df, target=TARGET)
    report = check(data, target=TARGET, sample=600)
    assert report.sampled is not None and report.n_rows == df.height
    expected, found = by_id(whole), by_id(report)
    for key in [("B-5 duplicates", key[1]) for key in expected if key[0] == "B-5 duplicates"]:
        assert found[key].message == expected[key].message


def test_a_sample_as_large_as_the_table_reads_every_row(tmp_path):
    df = every_defect(1000)
    path = tmp_path / "t.parquet"
    df.write_parquet(path)
    report = check(path, target=TARGET, sample=df.height)
    assert report.sampled is None
    assert report.to_dict() == check(path, target=TARGET).to_dict()


def test_the_same_seed_gives_the_same_report(tmp_path, small_memory):
    path = tmp_path / "t.parquet"
    every_defect(2000).write_parquet(path)
    first, second = (check(path, target=TARGET, sample=500, seed=4).to_json() for _ in range(2))
    assert first == second
    assert check(path, target=TARGET, sample=500, seed=5).sampled != json.loads(first)["sampled_rows"]


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100"])
def test_a_bad_sample_size_is_refused(bad):
    with pytest.raises(FieldguideError, match=r"sample: expected a positive number of rows, found"):
        check(pl.DataFrame({"x": [1, 2]}), sample=bad)


def test_a_corrupt_parquet_file_fails_to_load(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet PAR1")
    report = check(path, sample=10)
    assert report.level == "C4" and str(path) in report.findings[0].message


def test_cli_streams_with_sample(tmp_path):
    df = every_defect(2000)
    path = tmp_path / "t.parquet"
    df.write_parquet(path)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["check", str(path), "-t", TARGET, "--sample", "500", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "streamed; row by row checks on a seeded sample of" in " ".join(result.output.split())
    written = json.loads(out.read_text())
    assert written["n_rows"] == df.height and 300 < written["sampled_rows"] < 700
    refused = CliRunner().invoke(app, ["check", str(path), "--sample", "0"])
    assert refused.exit_code == 2 and "sample: expected a positive number of rows" in refused.output
