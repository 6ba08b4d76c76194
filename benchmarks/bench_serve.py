"""Serving benchmark: the same LightGBM pipeline behind ``fieldguide serve`` and MLflow's scoring server.

Run by hand: ``python benchmarks/bench_serve.py [--requests 400] [--concurrency 32]``. Both servers run as one
process on loopback (MLflow: ``mlflow models serve --env-manager local``, one uvicorn worker, its default;
fieldguide: ``fieldguide serve`` with its defaults, prediction log on). MLflow serves the very same fieldguide
pipeline through a pyfunc saved as *model from code* (no pickle): ``predict_proba`` on the DataFrame it receives.
One httpx async client sends the same pre-encoded requests to each: a fixed number of requests with a fixed number
in flight, after a warm-up; throughput is answered requests per second of wall time, latencies are per request.
Requests of 1 row and of 100 rows. Needs MLflow in the environment (``pip install mlflow-skinny``); without it
only fieldguide is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from fieldguide.serve import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parent
MODEL = "churn"
MLFLOW_MODEL_CODE = """
import mlflow
import numpy as np
import pandas as pd

from fieldguide.pipeline import Pipeline


class FieldguidePipeline(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.pipeline = Pipeline.load(context.artifacts["pipeline"])

    def predict(self, context, model_input, params=None):
        proba = self.pipeline.predict_proba(model_input)
        classes = self.pipeline.classes_
        out = {"prediction": np.asarray(classes)[proba.argmax(axis=1)]}
        out.update({f"p_{c}": proba[:, i] for i, c in enumerate(classes)})
        return pd.DataFrame(out)


mlflow.models.set_model(FieldguidePipeline())
"""


def _records(n: int, seed: int) -> list[dict]:
    from fieldguide.data.synthetic import customers

    rows = customers(n, seed=seed).drop("churn").to_dicts()
    return [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()} for row in rows]


def build(workdir: Path, train_rows: int) -> tuple[str, Path, object]:
    """Fit and register the LightGBM pipeline; returns (registry URL, artifact root, pipeline)."""
    from fieldguide.data.synthetic import customers
    from fieldguide.models.adapters import LGBMClassifier
    from fieldguide.pipeline import Pipeline
    from fieldguide.registry import Registry

    pipeline = Pipeline.fit(
        customers(train_rows, seed=0), target="churn", model=LGBMClassifier(n_estimators=100, verbose=-1)
    )
    pipeline.save(workdir / "pipeline")
    url = f"sqlite:///{workdir / 'registry.db'}"
    with Registry(url, artifact_root=workdir / "artifacts") as registry:
        registry.register(MODEL, workdir / "pipeline")
        registry.set_alias(MODEL, "champion", 1)
    return url, workdir / "artifacts", pipeline


def fieldguide_server(workdir: Path, url: str, artifacts: Path, port: int) -> tuple[list[str], str, str]:
    command = [
        sys.executable,
        "-m",
        "fieldguide",
        "serve",
        MODEL,
        "--registry",
        url,
        "--artifacts",
        str(artifacts),
    ]
    command += ["--port", str(port), "--log-database", f"sqlite:///{workdir / 'log.db'}"]
    base = f"http://127.0.0.1:{port}"
    return command, f"{base}/v2/health/ready", f"{base}/predict"


def mlflow_server(workdir: Path, port: int) -> tuple[list[str], str, str] | None:
    try:
        import mlflow.pyfunc
    except ImportError:
        return None
    code = workdir / "mlflow_model.py"
    code.write_text(MLFLOW_MODEL_CODE)
    path = workdir / "mlflow_model"
    mlflow.pyfunc.save_model(
        path=str(path), python_model=str(code), artifacts={"pipeline": str(workdir / "pipeline")}
    )
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(path), "--env-manager", "local"]
    command += ["-p", str(port), "-h", "127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    return command, f"{base}/ping", f"{base}/invocations"


async def _load(url: str, bodies: list[bytes], concurrency: int) -> dict:
    """Send every body with at most ``concurrency`` in flight; throughput, latency percentiles and errors."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0

    async def one(http: httpx.AsyncClient, body: bytes) -> None:
        nonlocal errors
        async with gate:
            start = time.perf_counter()
            response = await http.post(url, content=body, headers={"content-type": "application/json"})
            latencies.append(time.perf_counter() - start)
        errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=300) as http:
        start = time.perf_counter()
        await asyncio.gather(*(one(http, body) for body in bodies))
        wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(bodies),
        "errors": errors,
        "throughput": len(bodies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def measure(
    name: str, server: tuple[list[str], str, str], encode: Callable[[list[dict]], bytes], args, records, check
) -> dict:
    command, ready, endpoint = server
    log = open(Path(args.workdir) / f"{name}.log", "w")  # noqa: SIM115  (closed below, after the process)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env
    )  # MLflow runs `uvicorn`
    try:
        wait_until_ready(ready, process, timeout_s=300)
        check(
            httpx.post(endpoint, content=encode(records[:20]), headers={"content-type": "application/json"})
        )
        results = {}
        for rows in (1, 100):
            bodies = [
                encode([records[(i * rows + j) % len(records)] for j in range(rows)])
                for i in range(args.requests if rows == 1 else args.requests_100)
            ]
            asyncio.run(_load(endpoint, bodies[: args.concurrency * 2], args.concurrency))  # warm-up
            results[rows] = asyncio.run(_load(endpoint, bodies, args.concurrency))
            print(f"{name:>10} {rows:>3} row(s): {json.dumps(results[rows])}", flush=True)
        return results
    finally:
        process.terminate()
        process.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="single-row requests per server")
    parser.add_argument("--requests-100", type=int, default=100, help="100-row requests per server")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="bench_serve_")
    workdir = Path(args.workdir)
    url, artifacts, pipeline = build(workdir, args.train_rows)
    records = _records(1000, seed=1)
    expected = pipeline.predict_proba(_records_frame(records[:20]))

    def check_fieldguide(response: httpx.Response) -> None:
        got = [[p[str(c)] for c in pipeline.classes_] for p in response.json()["probabilities"]]
        np.testing.assert_allclose(got, expected, rtol=1e-6)

    def check_mlflow(response: httpx.Response) -> None:
        got = [[row[f"p_{c}"] for c in pipeline.classes_] for row in response.json()["predictions"]]
        np.testing.assert_allclose(got, expected, rtol=1e-6)

    results = {
        "fieldguide": measure(
            "fieldguide",
            fieldguide_server(workdir, url, artifacts, free_port()),
            lambda rs: json.dumps({"records": rs}).encode(),
            args,
            records,
            check_fieldguide,
        )
    }
    mlflow = mlflow_server(workdir, free_port())
    if mlflow is None:
        print("MLflow is not installed (pip install mlflow-skinny): measured fieldguide only")
    else:
        results["mlflow"] = measure(
            "mlflow",
            mlflow,
            lambda rs: json.dumps({"dataframe_records": rs}).encode(),
            args,
            records,
            check_mlflow,
        )
    print(
        f"\nconcurrency {args.concurrency}; requests: {args.requests} single-row, {args.requests_100} 100-row"
    )
    print("| rows/request | server | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for rows in (1, 100):
        for name, by_rows in results.items():
            r = by_rows[rows]
            print(
                f"| {rows} | {name} | {r['throughput']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
            )
    if "mlflow" in results:
        for rows in (1, 100):
            f, m = results["fieldguide"][rows], results["mlflow"][rows]
            print(
                f"{rows} row(s): throughput ×{f['throughput'] / m['throughput']:.2f} (target ≥ 2), "
                f"p99 ×{f['p99_ms'] / m['p99_ms']:.2f} (target < 1)"
            )
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "serve.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


def _records_frame(records: list[dict]):
    import polars as pl

    return pl.DataFrame(records)


if __name__ == "__main__":
    main()
