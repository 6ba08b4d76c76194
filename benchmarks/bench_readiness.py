"""Readiness scan speed and memory against ydata-profiling (minimal mode) and Deepchecks' data-integrity suite.

Writes a seeded table (default 1M rows × 20 columns, mixed types, a binary target) to Parquet, then runs each
tool on it in a fresh subprocess and reports wall time (reading the file included) and peak RSS, as multiples of
the table's Arrow size: above the process's RSS after its imports (reading + scan), and above its RSS once the
table is loaded (the scan's own memory).

    .venv/bin/python benchmarks/bench_readiness.py                      # fieldguide alone
    .venv/bin/python benchmarks/bench_readiness.py --peer-python /tmp/fg-bench/bin/python
    .venv/bin/python benchmarks/bench_readiness.py --rows 20000000 --skip deepchecks   # a larger table

``fieldguide --sample`` is the streamed check (``check(path, sample=N)``): it never loads the table whole, so its
memory is above its imports only.

The peers are not fieldguide dependencies; install them into a separate environment (they pin older NumPy,
pandas or scikit-learn than fieldguide uses): ``python -m venv /tmp/fg-bench &&
/tmp/fg-bench/bin/pip install ydata-profiling deepchecks``. A peer that is not importable there is skipped with
a message.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = "y"


def make_table(n_rows: int, seed: int, path: Path) -> int:
    """Write the seeded benchmark table to ``path`` (Parquet) and return its Arrow size in bytes."""
    import datetime as dt

    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    columns = {f"num{i}": rng.normal(i, 1 + i, n_rows) for i in range(8)}
    columns |= {f"amount{i}": np.round(np.exp(rng.normal(3 + i, 0.8, n_rows)), 2) for i in range(3)}
    columns |= {f"count{i}": rng.poisson(2 + i, n_rows) for i in range(3)}
    columns |= {f"cat{i}": rng.choice([f"level{j}" for j in range(3 + 4 * i)], n_rows) for i in range(3)}
    columns["flag"] = rng.random(n_rows) < 0.3
    start = dt.datetime(2023, 1, 1)
    columns["ts"] = pl.datetime_range(start, start + dt.timedelta(minutes=n_rows - 1), "1m", eager=True)
    logit = 0.5 * columns["num0"] - 0.3 * columns["num1"] + 0.8 * columns["flag"] - 1
    columns[TARGET] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    df = pl.DataFrame(columns)
    # One defect a scan should find: a little missingness.
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0).then(None).otherwise(pl.col("num2")).alias("num2")
    )
    df.write_parquet(path)
    return df.estimated_size()


WORKERS = {
    "fieldguide": """
from fieldguide.data import read
from fieldguide.readiness import check
import fieldguide.readiness._appropriate  # scikit-learn, imported on first use: count it as an import
{measure}
df = read(PATH)
LOADED = rss()
report = check(df, target="y", progress=False)
result = {{"level": report.level, "findings": sum(f.severity != "pass" for f in report.findings)}}
""",
    "fieldguide --sample": """
from fieldguide.readiness import check
import fieldguide.readiness._appropriate
{measure}
LOADED = BASELINE  # nothing is loaded whole: the check streams the file
report = check(PATH, target="y", progress=False, sample=SAMPLE)
result = {{"level": report.level, "findings": sum(f.severity != "pass" for f in report.findings)}}
""",
    "ydata-profiling": """
import pandas as pd
from ydata_profiling import ProfileReport
{measure}
df = pd.read_parquet(PATH)
LOADED = rss()
description = ProfileReport(df, minimal=True, progress_bar=False).get_description()
result = {{"alerts": len(description.alerts)}}
""",
    "deepchecks": """
import pandas as pd
from deepchecks.tabular import Dataset
from deepchecks.tabular.suites import data_integrity
{measure}
df = pd.read_parquet(PATH)
LOADED = rss()
dataset = Dataset(df, label="y", cat_features=["cat0", "cat1", "cat2", "flag"], datetime_name="ts")
outcome = data_integrity().run(dataset)
result = {{"checks": len(outcome.results)}}
""",
}

MEASURE = """
import json, resource, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
BASELINE = rss()
START = time.perf_counter()
"""

REPORT = """
seconds = time.perf_counter() - START
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps({"seconds": seconds, "peak_rss": peak, "baseline_rss": BASELINE, "loaded_rss": LOADED, **result}))
"""


def run_worker(tool: str, python: str, path: Path, timeout: int, sample: int) -> dict | str:
    code = f"PATH = {str(path)!r}\nSAMPLE = {sample}\n" + WORKERS[tool].format(measure=MEASURE) + REPORT
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed: {last}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-python", default=sys.executable, help="interpreter with the peers installed")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed to each tool")
    parser.add_argument(
        "--sample", type=int, default=100_000, help="rows `fieldguide --sample` holds; it streams the rest"
    )
    parser.add_argument("--skip", default="", help="comma-separated tools not to run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        arrow = make_table(args.rows, args.seed, path)
        mib = 2**20
        print(f"table: {args.rows:,} rows x 20 columns + target, Arrow size {arrow / mib:.0f} MiB")
        results = {}
        for tool in WORKERS:
            if tool in args.skip.split(","):
                results[tool] = "--skip"
                print(f"{tool:20s} skipped (--skip)")
                continue
            python = sys.executable if tool.startswith("fieldguide") else args.peer_python
            started = time.perf_counter()
            results[tool] = run_worker(tool, python, path, args.timeout, args.sample)
            outcome = results[tool]
            if isinstance(outcome, str):
                print(f"{tool:20s} skipped ({outcome})")
                continue
            used = outcome["peak_rss"] - outcome["baseline_rss"]
            scan = outcome["peak_rss"] - outcome["loaded_rss"]
            print(
                f"{tool:20s} {outcome['seconds']:7.2f} s  peak RSS {outcome['peak_rss'] / mib:5.0f} MiB  "
                f"above imports {used / mib:5.0f} MiB = {used / arrow:4.2f}x Arrow  "
                f"above the loaded table {scan / mib:5.0f} MiB = {scan / arrow:4.2f}x  "
                f"(process {time.perf_counter() - started:.0f} s)"
            )
        for ours in ("fieldguide", "fieldguide --sample"):
            if not isinstance(results[ours], dict):
                continue
            for tool in ("ydata-profiling", "deepchecks"):
                if isinstance(results[tool], dict):
                    ratio = results[tool]["seconds"] / results[ours]["seconds"]
                    print(f"{ours} speed-up vs {tool}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
