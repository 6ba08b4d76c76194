"""Where an MLP fit's device memory goes: JAX's allocator (``memory_stats()``) read around each stage of one fit
in a fresh process, and XLA's own account of the epoch loop's buffers (``memory_analysis()``).

    python benchmarks/probe_device_memory.py [--rows 200000] [--epochs 5]

Runs the fit twice, each in its own process: once compiling from scratch and once with the persistent
compilation cache filled, so that what compiling takes (autotuning's trial buffers) is told from what the fit
itself holds. On the CPU, JAX's allocator keeps no statistics and only ``memory_analysis()`` is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from bench_mlp import fieldguide_fit, split


def stats() -> dict:
    import jax

    got = jax.local_devices()[0].memory_stats() or {}
    return {"in_use": got.get("bytes_in_use"), "peak": got.get("peak_bytes_in_use")}


def child(rows: int, epochs: int) -> None:
    import jax

    from fieldguide.core import _learner, _solvers

    X, y, _, _ = split(rows)
    readings, calls = [], {}

    def watched(module, name):
        original = getattr(module, name)

        def call(*args, **kwargs):
            out = original(*args, **kwargs)
            jax.block_until_ready(out)
            calls.setdefault(name, (original, args, kwargs))
            readings.append({"after": name, **stats()})
            return out

        setattr(module, name, call)

    watched(_learner, "_put")
    watched(_solvers, "optax_init")
    watched(_solvers, "optax_run")
    readings.append({"after": "start", **stats()})
    fieldguide_fit(X, y, epochs)
    readings.append({"after": "fit", **stats()})
    original, args, kwargs = calls["optax_run"]
    analysis = original.lower(*args, **kwargs).compile().memory_analysis()
    loop = {
        key: getattr(analysis, key, None)
        for key in (
            "argument_size_in_bytes",
            "output_size_in_bytes",
            "alias_size_in_bytes",
            "temp_size_in_bytes",
            "generated_code_size_in_bytes",
        )
    }
    print(json.dumps({"x_bytes": X.nbytes, "readings": readings, "loop": loop}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args.rows, args.epochs)
    command = [sys.executable, __file__, "--rows", str(args.rows), "--epochs", str(args.epochs), "--child"]
    for label, env in (("compiling", {"FIELDGUIDE_JAX_CACHE": "0"}), ("filling", {}), ("cache filled", {})):
        out = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, **env})
        result = json.loads(out.stdout.strip().splitlines()[-1])
        mb = 1e6
        print(f"{label}: X {result['x_bytes'] / mb:.1f} MB")
        for reading in result["readings"]:
            if reading["peak"] is not None:
                print(
                    f"  after {reading['after']:<11} in use {reading['in_use'] / mb:8.1f} MB"
                    f"  peak {reading['peak'] / mb:8.1f} MB  ({reading['peak'] / result['x_bytes']:.2f}x X)"
                )
        print(
            "  epoch loop (XLA):", {k: round(v / mb, 2) for k, v in result["loop"].items() if v is not None}
        )


if __name__ == "__main__":
    main()
