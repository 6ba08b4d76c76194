"""Readers: every format, every malformed-file case with its message, SQL sources."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import socket
import sqlite3
import uuid
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fieldguide.data import MISSING_TOKENS, DataWarning, read
from fieldguide.data._read import scan
from fieldguide.errors import DataError

EXPECTED = pl.DataFrame({"age": [31, 45], "city": ["Zoë", "Oslo"], "score": [1.5, 2.0]})
CSV = "age,city,score\n31,Zoë,1.5\n45,Oslo,2.0\n"
JSONL = '{"age": 31, "city": "Zoë", "score": 1.5}\n{"age": 45, "city": "Oslo", "score": 2.0}\n'


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("comma.csv", CSV),
        ("semicolon.csv", CSV.replace(",", ";")),
        ("tab.csv", CSV.replace(",", "\t")),
        ("pipe.txt", CSV.replace(",", "|")),
        ("tabs.tsv", CSV.replace(",", "\t")),
        ("crlf.csv", CSV.replace("\n", "\r\n")),
        ("bom.csv", codecs.BOM_UTF8 + CSV.encode("utf-8")),
        ("utf16le.csv", codecs.BOM_UTF16_LE + CSV.encode("utf-16-le")),
        ("utf16be.csv", codecs.BOM_UTF16_BE + CSV.encode("utf-16-be")),
        ("zipped.csv.gz", gzip.compress(CSV.encode("utf-8"), mtime=0)),
        ("quoted.csv", 'age,city,score\n31,"Zoë",1.5\n45,"Oslo",2.0\n'),
        ("lines.jsonl", JSONL),
        ("lines.ndjson", JSONL),
        ("lines.jsonl.gz", gzip.compress(JSONL.encode("utf-8"), mtime=0)),
    ],
)
def test_text_formats_read_the_same_table(tmp_path: Path, name: str, data: bytes | str) -> None:
    assert_frame_equal(read(write(tmp_path, name, data)), EXPECTED)


def test_parquet(tmp_path: Path) -> None:
    EXPECTED.write_parquet(tmp_path / "t.parquet")
    assert_frame_equal(read(tmp_path / "t.parquet"), EXPECTED)


def test_json_array(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.json",
        '[{"age": 31, "city": "Zoë", "score": 1.5}, {"age": 45, "city": "Oslo", "score": 2.0}]',
    )
    assert_frame_equal(read(path), EXPECTED)


def test_parquet_directory_with_partitions_and_glob(tmp_path: Path) -> None:
    for year, part in ((2024, EXPECTED.head(1)), (2025, EXPECTED.tail(1))):
        (tmp_path / "ds" / f"year={year}").mkdir(parents=True)
        part.write_parquet(tmp_path / "ds" / f"year={year}" / "part.parquet")
    dataset = read(tmp_path / "ds").sort("age")
    assert_frame_equal(dataset.drop("year"), EXPECTED)
    assert dataset["year"].to_list() == [2024, 2025]
    assert_frame_equal(read(tmp_path / "ds" / "*" / "*.parquet").sort("age"), EXPECTED)
    with pytest.raises(DataError, match=r"no Parquet files found"):
        read(tmp_path / "ds" / "*.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no Parquet files found"):
        read(tmp_path / "empty")


def test_given_delimiter_and_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", CSV.replace(",", ";").encode("latin-1"))
    assert_frame_equal(read(path, delimiter=";", encoding="latin-1"), EXPECTED)


def test_windows_encoding_is_detected_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "name,price\ncafé,3 €\n".encode("cp1252"))
    with pytest.warns(DataWarning, match=r"t\.csv: not UTF-8; decoded as cp1252"):
        df = read(path)
    assert df.row(0) == ("café", "3 €")


def test_latin1_fallback_when_not_cp1252(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"name\nA\x81b\n")  # 0x81 is undefined in cp1252
    with pytest.warns(DataWarning, match="decoded as latin-1"):
        assert read(path)["name"].to_list() == ["A\x81b"]


def test_missing_spellings_are_kept_by_default_and_nulled_on_request(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "x,y\n1,NA\n2,\n3,n/a\n4,?\n5,ok\n")
    raw = read(path)
    assert raw["y"].to_list() == ["NA", None, "n/a", "?", "ok"]
    assert read(path, null_values=MISSING_TOKENS)["y"].to_list() == [None, None, None, None, "ok"]
    assert read(path, null_values=["?"])["y"].to_list() == ["NA", None, "n/a", None, "ok"]


def test_types_are_inferred_from_the_whole_file(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i}\n" for i in range(20_000))
    df = read(write(tmp_path, "t.csv", "x,y\n" + rows + "abc,1.5\n"))
    assert (df["x"].dtype, df["y"].dtype, df["x"][-1], df["y"][-1]) == (pl.String, pl.Float64, "abc", 1.5)


def test_quoted_delimiters_newlines_and_blank_lines(tmp_path: Path) -> None:
    data = 'a,b\n"x, ""y""\nz",1\n\n"2",3\n'
    # a blank line is a row of nulls, as Polars reads it: readiness reports it rather than read hiding it
    assert read(write(tmp_path, "t.csv", data)).rows() == [('x, "y"\nz', 1), (None, None), ("2", 3)]
    with pytest.raises(DataError, match=r"line 6 has 3 fields, expected 2"):
        read(write(tmp_path, "t.csv", data + "4,5,6\n"))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", r"empty\.csv: the file is empty"),
        ("blank.csv", b"\n\n  \n", r"blank\.csv: the file is empty"),
        ("header.csv", b"a,b,c\n", r"header\.csv: has a header \(3 columns\) but no rows"),
        ("short.csv", b"a,b,c\n1,2,3\n4,5\n", r"short\.csv: line 3 has 2 fields, expected 3"),
        ("long.csv", b"a;b\n1;2\n3;4\n5;6;7\n", r"long\.csv: line 4 has 3 fields, expected 2"),
        ("quoted.csv", b'a,b\n"x,y",2\n1,2,3\n', r"quoted\.csv: line 3 has 3 fields, expected 2"),
        ("binary.csv", bytes(range(256)) * 40, r"binary\.csv: looks like binary data, not a text table"),
        (
            "image.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100),
            r"image\.csv: looks like binary data",
        ),
        ("bad.parquet", b"a,b\n1,2\n", r"bad\.parquet: not a readable Parquet file"),
        ("bad.jsonl", b'{"a": 1}\n{"a": \n', r"bad\.jsonl: not valid JSON lines"),
        ("bad.json", b'{"a": [1, 2', r"bad\.json: not valid JSON, an array of objects"),
        ("book.xlsx", b"PK\x03\x04", r"book\.xlsx: unsupported extension '\.xlsx'; expected one of \.csv"),
        ("noext", b"a,b\n1,2\n", r"noext: unsupported extension '\(none\)'"),
        ("bad.csv.gz", b"not gzip", r"bad\.csv\.gz: could not read the file"),
    ],
)
def test_malformed_files_give_clear_errors(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read(write(tmp_path, name, data))


def test_wrong_given_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "a\nZoë\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"t\.csv: not valid utf-8 at byte 4"):
        read(path, encoding="utf-8")
    with pytest.raises(DataError, match=r"t\.csv: unknown encoding 'klingon'"):
        read(path, encoding="klingon")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        read(tmp_path / "nope.csv")


def test_sqlite(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute("create table t (age integer, city text, score real)")
        connection.executemany("insert into t values (?, ?, ?)", EXPECTED.rows())
    assert_frame_equal(read(f"sqlite:///{tmp_path / 't.db'}", query="select * from t order by age"), EXPECTED)
    with pytest.raises(DataError, match=r"sqlite:///.*t\.db: query failed .*no such table: missing"):
        read(f"sqlite:///{tmp_path / 't.db'}", query="select * from missing")
    with pytest.raises(DataError, match="needs query="):
        read(f"sqlite:///{tmp_path / 't.db'}")


def test_duckdb_over_parquet_files(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="duckdb is an optional dependency")
    EXPECTED.head(1).write_parquet(tmp_path / "part1.parquet")
    EXPECTED.tail(1).write_parquet(tmp_path / "part2.parquet")
    query = f"select * from '{tmp_path}/*.parquet' order by age"
    assert_frame_equal(read("duckdb:///:memory:", query=query), EXPECTED)
    with pytest.raises(DataError, match=r"duckdb:///:memory:: query failed"):
        read("duckdb:///:memory:", query="select * from nowhere")


def test_query_is_refused_for_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="query= is for SQL URLs"):
        read(write(tmp_path, "t.csv", CSV), query="select 1")


def _postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.postgres
@pytest.mark.skipif(not _postgres_reachable(), reason="no PostgreSQL server at 127.0.0.1:5432")
def test_postgresql() -> None:
    import sqlalchemy

    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    table = f"fieldguide_read_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(f"create table {table} (age bigint, city text, score double precision)")
            )
            connection.execute(
                sqlalchemy.text(f"insert into {table} values (:age, :city, :score)"), EXPECTED.to_dicts()
            )
        assert_frame_equal(read(url, query=f"select * from {table} order by age"), EXPECTED)
        with pytest.raises(DataError, match=r"query failed"):
            read(url, query=f"select nope from {table}")
    finally:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"drop table if exists {table}"))
        engine.dispose()


field = st.text(alphabet=st.sampled_from('ab,;"\n é'), max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(field, min_size=2, max_size=2), min_size=1, max_size=8),
    ragged=st.none() | st.tuples(st.integers(0, 7), st.sampled_from([1, 3])),
)
def test_ragged_rows_are_found_where_the_csv_module_finds_them(tmp_path: Path, rows, ragged) -> None:
    rows = [["h1", "h2"], *[[f"x{v}" for v in row] for row in rows]]  # no blank lines, never a one-field row
    if ragged is not None and ragged[0] < len(rows) - 1:
        bad = rows[ragged[0] + 1]
        rows[ragged[0] + 1] = bad[:1] if ragged[1] == 1 else [*bad, "extra"]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    expected, reader, first_line = None, csv.reader(io.StringIO(text, newline="")), 1
    for row in reader:  # we name the line a record starts on; csv's line_num is where it ends
        if len(row) != 2:
            expected = (first_line, len(row))
            break
        first_line = reader.line_num + 1
    path = write(tmp_path, "t.csv", text)
    if expected is None:
        assert read(path, delimiter=",").rows() == [tuple(r) for r in rows[1:]]
    else:
        with pytest.raises(DataError, match=rf"line {expected[0]} has {expected[1]} fields, expected 2"):
            read(path, delimiter=",")


def _unusual_types() -> pl.DataFrame:
    """Types Parquet files and databases hold that no schema kind reads, with the values they stand for."""
    import datetime as dt
    import decimal

    return pl.DataFrame(
        {
            "amount": pl.Series([decimal.Decimal("9.95"), None], dtype=pl.Decimal(10, 2)),
            "wait": [dt.timedelta(minutes=1, milliseconds=500), None],
            "opens": [dt.time(9, 30), dt.time(17, 0, 5)],
            "blob": [b"\x00\xff", None],
            "tags": [["x", "y"], []],  # nested: kept, the schema leaves it out of learning
        }
    )


PLAIN = pl.DataFrame(
    {
        "amount": [9.95, None],
        "wait": [60.5, None],
        "opens": ["09:30:00", "17:00:05"],
        "blob": ["00ff", None],
        "tags": [["x", "y"], []],
    }
)


def test_unusual_column_types_become_ones_the_schema_reads(tmp_path: Path) -> None:
    import datetime as dt

    from fieldguide.data import as_frame, infer_schema

    frame = _unusual_types()
    assert_frame_equal(as_frame(frame), PLAIN)
    assert_frame_equal(as_frame(frame.to_pandas()), PLAIN)
    frame.write_parquet(tmp_path / "t.parquet")
    assert_frame_equal(read(tmp_path / "t.parquet"), PLAIN)
    assert_frame_equal(scan(tmp_path / "t.parquet").collect(), PLAIN)  # the lazy scan converts as read does
    ids = pl.DataFrame({"uid": pl.Series([uuid.UUID(int=1), None], dtype=pl.Object)})
    assert as_frame(ids).to_dict(as_series=False) == {"uid": ["00000000-0000-0000-0000-000000000001", None]}
    mixed = pl.DataFrame({"doc": pl.Series([{"k": 1}, [2, "b"], 3], dtype=pl.Object)})
    assert as_frame(mixed)["doc"].to_list() == ['{"k": 1}', '[2, "b"]', "3"]
    kinds = {c.name: c.kind for c in infer_schema(frame)}
    assert kinds["amount"] == kinds["wait"] == "numeric"
    usual = pl.DataFrame({"x": [1.0], "when": [dt.date(2024, 1, 1)]})
    assert as_frame(usual) is usual  # nothing to change: the same frame, no copy


@pytest.mark.postgres
@pytest.mark.skipif(not _postgres_reachable(), reason="no PostgreSQL server at 127.0.0.1:5432")
def test_postgresql_types_without_a_polars_twin_are_read_and_graded(postgres_schema_url) -> None:
    """numeric, uuid, jsonb, interval and arrays come back from psycopg as Decimal, Object, Struct, Duration
    and List columns; a check of such a table used to stop on a Polars cast error."""
    import sqlalchemy

    from fieldguide.readiness import check

    engine = sqlalchemy.create_engine(postgres_schema_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "create table t as select g as n, (g * 1.25)::numeric(10, 2) as amount, "
            "md5(g::text)::uuid as uid, jsonb_build_object('k', mod(g, 3)) as meta, g * interval '1 minute' as wait, "
            "array[g, g + 1] as pair, mod(g, 2) = 0 as label from generate_series(1, 200) g"
        )
    engine.dispose()
    table = read(postgres_schema_url, query="select * from t order by n")
    assert dict(table.schema) == {
        "n": pl.Int64, "amount": pl.Float64, "uid": pl.String, "meta": pl.Struct({"k": pl.Int64}),
        "wait": pl.Float64, "pair": pl.List(pl.Int64), "label": pl.Boolean,
    }  # fmt: skip
    first = (1, 1.25, "c4ca4238-a0b9-2382-0dcc-509a6f75849b", {"k": 1}, 60.0, [1, 2], False)
    assert table.row(0) == first
    report = check(table, "label")
    assert report.n_rows == 200 and report.level != "C4"
    kinds = {c["name"]: (c["kind"], c["role"]) for c in report.to_dict()["columns"]}
    assert kinds["meta"] == kinds["pair"] == ("text", "ignored") and kinds["uid"] == (
        "identifier",
        "identifier",
    )


def test_scan_is_for_parquet_and_names_what_it_cannot_read(tmp_path: Path) -> None:
    EXPECTED.write_parquet(tmp_path / "t.parquet")
    assert_frame_equal(scan(tmp_path / "t.parquet").collect(), EXPECTED)
    (tmp_path / "t.csv").write_text(CSV)
    assert scan(tmp_path / "t.csv") is None and scan("sqlite:///x.db") is None and scan(EXPECTED) is None
    assert scan(tmp_path / "missing.parquet") is None  # not a file: read() says so
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        scan(tmp_path / "bad.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no Parquet files found"):
        scan(tmp_path / "empty")
    EXPECTED.write_parquet(tmp_path / "parts", partition_by="age")
    assert sorted(scan(tmp_path / "parts").collect()["city"].to_list()) == ["Oslo", "Zoë"]
