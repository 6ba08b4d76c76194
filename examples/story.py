"""The fieldguide user story end to end, on a seeded table, with the real CLI.

check -> compare -> train (search + register + export) -> evaluate (gate) -> promote -> batch predict (from a
SQL query) -> ONNX export -> serve -> predict over HTTP.
Everything lands in ``--out`` (default ``./fieldguide-story``): reports, plots, the exported script and the
registry (``FIELDGUIDE_HOME``). Run it with ``bash scripts/story`` on a fresh clone.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from fieldguide.data.synthetic import customers
from fieldguide.serve import free_port, wait_until_ready

FIELDGUIDE = [sys.executable, "-m", "fieldguide"]


def step(title: str, *args: str, ok: tuple[int, ...] = (0,)) -> None:
    print(f"\n\033[1m== {title}\033[0m\n$ fieldguide {shlex.join(args)}", flush=True)
    code = subprocess.call([*FIELDGUIDE, *args])
    if code not in ok:
        sys.exit(f"story: `fieldguide {args[0]}` exited with {code}")


def serve_and_predict(holdout: Path, port: int) -> None:
    server = subprocess.Popen([*FIELDGUIDE, "serve", "churn", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(f"{base}/v2/health/ready", server, timeout_s=120)
        except (RuntimeError, TimeoutError) as err:
            sys.exit(f"story: {err}")
        import polars as pl

        records = pl.read_csv(holdout).drop("churn").head(3).to_dicts()  # dates stay ISO strings, as in JSON
        reply = httpx.post(f"{base}/predict", json={"records": records}, timeout=30)
        print(f"$ POST {base}/predict (3 holdout rows) -> HTTP {reply.status_code}\n{reply.text}")
        reply.raise_for_status()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("fieldguide-story"))
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.environ["FIELDGUIDE_HOME"] = str(out / "home")
    os.environ.pop("FIELDGUIDE_REGISTRY", None)

    table = customers(args.rows, seed=0)
    cut = int(args.rows * 0.75)
    train, holdout = out / "train.csv", out / "holdout.csv"
    table[:cut].write_csv(train)
    table[cut:].write_csv(holdout)
    shop = f"sqlite:///{out / 'shop.db'}"  # the new customers also sit in a database, as they often do
    table[cut:].write_database("new_customers", shop)
    print(f"A seeded customer table: {cut} training rows, {args.rows - cut} holdout rows -> {out}")

    step("Is the data ready?", "check", str(train), "--target", "churn", "--html", str(out / "check.html"))
    step(
        "Which model family? The simplest one that is not significantly worse than the best",
        "compare",
        str(train),
        "--target",
        "churn",
        "--folds",
        "3",
        "--repeats",
        "2",
        "--models",
        "LogisticRegression,GaussianNB,LGBMClassifier,MLPClassifier",
        "--html",
        str(out / "compare.html"),
    )
    step(
        "Search, refit on all rows, register, export the pipeline as code",
        "train",
        str(train),
        "--target",
        "churn",
        "--trials",
        "12",
        "--name",
        "churn",
        "--export",
        str(out / "rebuild_churn.py"),
    )
    step(
        "Gate the new version on the holdout (no champion yet: it is judged on its own)",
        "evaluate",
        "churn",
        "--challenger",
        "1",
        "--data",
        str(holdout),
        "--slices",
        "contract,region",
        "--html",
        str(out / "evaluate.html"),
    )
    step("Promote it to champion", "promote", "churn", "1")
    step("The registry", "models", "show", "churn")
    step(
        "Score the new customers in the database in batch with the champion",
        "predict",
        "churn",
        "--data",
        shop,
        "--query",
        "select * from new_customers",
        "--out",
        str(out / "new_customers_scored.csv"),
    )
    step(
        "Export the champion as one ONNX model and check it against the pipeline on the holdout",
        "models",
        "export",
        "churn",
        "--onnx",
        str(out / "churn.onnx"),
        "--check",
        str(holdout),
    )
    print("\n\033[1m== Serve the champion and ask it about three holdout customers\033[0m", flush=True)
    serve_and_predict(holdout, free_port())
    print(
        f"\nDone. Reports: {out}/check.html, compare.html, evaluate.html; script: {out}/rebuild_churn.py; "
        f"ONNX model: {out}/churn.onnx"
    )


if __name__ == "__main__":
    main()
