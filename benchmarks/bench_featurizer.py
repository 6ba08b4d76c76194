"""Featurizer speed: fieldguide's Featurizer vs scikit-learn's ColumnTransformer on the same mixed table.

The table has 12 numeric columns (10 floats with 5 % missing, 2 integers), 6 categorical columns (3 to 15
levels) and 2 booleans. scikit-learn gets SimpleImputer(median) + StandardScaler on the numeric and boolean
columns and OneHotEncoder on the categorical ones, the same work the Featurizer does. Reports fit and transform
seconds (best of ``--repeats``), and the latency of transforming one JSON record, as the server does.

    python benchmarks/bench_featurizer.py              # 1M rows
    python benchmarks/bench_featurizer.py --rows 100000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fieldguide.data import Featurizer, infer_schema

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time

RESULTS = Path(__file__).parent / "results" / "bench_featurizer.json"


def make_table(n_rows: int, seed: int = 0) -> pl.DataFrame:
    """1M × 20 by default: 10 floats with missing values, 2 ints, 6 categoricals, 2 booleans."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for j in range(10):
        values = rng.normal(j, 1 + j, n_rows)
        values[rng.random(n_rows) < 0.05] = np.nan
        columns[f"num{j}"] = values
    columns["count0"] = rng.poisson(3, n_rows)
    columns["count1"] = rng.integers(0, 1000, n_rows)
    for j, levels in enumerate([3, 5, 7, 10, 12, 15]):
        columns[f"cat{j}"] = rng.choice([f"level_{i}" for i in range(levels)], n_rows)
    columns["flag0"] = rng.random(n_rows) < 0.3
    columns["flag1"] = rng.random(n_rows) < 0.7
    return pl.DataFrame(columns).with_columns(pl.col(f"num{j}" for j in range(10)).fill_nan(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("featurizer benchmark", total=7)
        df = make_table(args.rows)
        pandas_df = df.to_pandas()
        progress.advance(task)
        schema = infer_schema(df)
        numeric = [c.name for c in schema if c.kind in ("numeric", "boolean")]
        categorical = [c.name for c in schema if c.kind == "categorical"]
        progress.advance(task)

        featurizer = Featurizer(schema)
        ours_fit = best_time(lambda: featurizer.fit(df), args.repeats)
        progress.advance(task)
        ours_transform = best_time(lambda: featurizer.transform(df), args.repeats)
        progress.advance(task)
        record = df.row(0, named=True)
        one_record = (
            best_time(lambda: [featurizer.transform_records([record]) for _ in range(200)], args.repeats)
            / 200
        )
        progress.advance(task)

        reference = ColumnTransformer(
            [
                ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
            ]
        )
        theirs_fit = best_time(lambda: reference.fit(pandas_df), args.repeats)
        progress.advance(task)
        theirs_transform = best_time(lambda: reference.transform(pandas_df), args.repeats)
        progress.advance(task)

    ours, theirs = featurizer.transform(df), reference.transform(pandas_df)
    results = {
        "rows": args.rows,
        "columns": df.width,
        "features_out": {"fieldguide": ours.shape[1], "scikit-learn": theirs.shape[1]},
        "seconds": {
            "fieldguide_fit": ours_fit,
            "fieldguide_transform": ours_transform,
            "scikit-learn_fit": theirs_fit,
            "scikit-learn_transform": theirs_transform,
        },
        "speedup": {"fit": theirs_fit / ours_fit, "transform": theirs_transform / ours_transform},
        "one_record_ms": one_record * 1e3,
        "machine": platform.platform(),
    }
    table = Table(title=f"Featurizer on {args.rows:,} rows × {df.width} columns (best of {args.repeats})")
    for column in ("", "fit s", "transform s", "features out"):
        table.add_column(column, justify="right")
    table.add_row("fieldguide", f"{ours_fit:.2f}", f"{ours_transform:.2f}", str(ours.shape[1]))
    table.add_row("scikit-learn", f"{theirs_fit:.2f}", f"{theirs_transform:.2f}", str(theirs.shape[1]))
    table.add_row(
        "speed-up", f"{theirs_fit / ours_fit:.1f}×", f"{theirs_transform / ours_transform:.1f}×", ""
    )
    console.print(table)
    console.print(f"one JSON record through transform_records: {one_record * 1e3:.2f} ms")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
