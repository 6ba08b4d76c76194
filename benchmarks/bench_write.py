"""Writing scored rows into a database table: fieldguide's writer (`fieldguide predict --out URL --table NAME`)
against pandas' ``DataFrame.to_sql`` (the hand-glued way, by default and with ``method="multi"``) and Polars'
``write_database`` (which goes through pandas for a SQLAlchemy URL), on the same rows.

The rows are what `predict` writes for a binary classifier: an integer id, the label, two probabilities. Each
writer replaces the table; the time is the best of ``--repeats`` writes, the row count and a checksum of the
probabilities are read back to make sure every writer wrote the same thing.

    python benchmarks/bench_write.py [--rows 200000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Without ``--url``: a SQLite file in a temporary directory, then the test PostgreSQL at 127.0.0.1:5432 if it answers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import sqlalchemy as sa


def scored_rows(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    p_yes = rng.random(n)
    return pl.DataFrame(
        {
            "customer_id": np.arange(n),
            "prediction": np.where(p_yes > 0.5, "yes", "no"),
            "p_no": 1 - p_yes,
            "p_yes": p_yes,
        }
    )


def writers(frame: pl.DataFrame, url: str) -> dict:
    from fieldguide.data._write import write_table

    pandas = frame.to_pandas()
    engine = sa.create_engine(url)
    return {
        "fieldguide": lambda: write_table(frame, url, "scores", "replace"),
        "pandas to_sql": lambda: pandas.to_sql(
            "scores", engine, if_exists="replace", index=False, chunksize=10_000
        ),
        "pandas to_sql multi": lambda: pandas.to_sql(
            "scores", engine, if_exists="replace", index=False, chunksize=1_000, method="multi"
        ),
        "polars write_database": lambda: frame.write_database("scores", url, if_table_exists="replace"),
    }


def check(url: str, frame: pl.DataFrame) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows, total = connection.exec_driver_sql("select count(*), sum(p_yes) from scores").one()
    engine.dispose()
    assert rows == frame.height and abs(total - frame["p_yes"].sum()) < 1e-6 * frame.height, (rows, total)


def run(url: str, frame: pl.DataFrame, repeats: int) -> None:
    shown = sa.make_url(url).render_as_string(hide_password=True)
    print(f"\n{shown}: {frame.height:,} rows")
    print(f"| writer | best of {repeats} (s) | rows/s | vs fieldguide |")
    print("|---|---|---|---|")
    times = {}
    for name, write in writers(frame, url).items():
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            write()
            best = min(best, time.perf_counter() - started)
            check(url, frame)
        times[name] = best
    for name, best in times.items():
        print(f"| {name} | {best:.3f} | {frame.height / best:,.0f} | ×{best / times['fieldguide']:.1f} |")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("drop table if exists scores")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--url", action="append")
    args = parser.parse_args()
    frame = scored_rows(args.rows)
    urls = args.url
    if not urls:
        urls = [f"sqlite:///{Path(tempfile.mkdtemp()) / 'scores.db'}"]
        postgres = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        try:
            sa.create_engine(postgres, connect_args={"connect_timeout": 3}).connect().close()
            urls.append(postgres)
        except Exception as err:
            print(f"(no PostgreSQL at 127.0.0.1:5432: {str(err).splitlines()[0]})")
    for url in urls:
        run(url, frame, args.repeats)


if __name__ == "__main__":
    main()
