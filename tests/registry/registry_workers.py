"""Seeded artifacts, and code that runs in other processes: spawn workers and the child that gets killed.

Run as a script, it prints ``ready`` once connected, then registers ``SOURCE`` as model ``churn`` ``LOOPS`` times,
printing each version number: ``python registry_workers.py URL ARTIFACT_ROOT SOURCE LOOPS``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from fieldguide.registry import Registry


def write_artifact(directory: Path, seed: int, tensor_bytes: int = 4096) -> Path:
    """A pipeline-like artifact: JSON, safetensors, a booster's model text, and a nested folder."""
    rng = np.random.default_rng(seed)
    (directory / "featurizer").mkdir(parents=True)
    (directory / "pipeline.json").write_text(json.dumps({"seed": seed, "model": "logistic"}))
    (directory / "featurizer" / "schema.json").write_text(
        json.dumps({"columns": ["age", "plan"], "seed": seed})
    )
    weights = rng.standard_normal(tensor_bytes // 4).astype(np.float32)
    save_file({"coef": weights}, str(directory / "model.safetensors"))
    (directory / "booster.txt").write_text(f"tree\nversion=v4\nnum_leaves={rng.integers(2, 64)}\n")
    return directory


def register_many(url: str, root: str, worker: int, count: int, scratch: str) -> list[tuple[int, str, int]]:
    """Register ``count`` distinct artifacts of model ``churn``; returns (version, checksum, seed) of each."""
    registered = []
    with Registry(url, artifact_root=root) as registry:
        for index in range(count):
            seed = 1000 * worker + index
            source = write_artifact(Path(scratch) / f"worker{worker}-{index}", seed)
            found = registry.register("churn", source, tags={"seed": seed})
            registered.append((found.version, found.checksum, seed))
    return registered


def main(url: str, root: str, source: str, loops: str) -> None:
    with Registry(url, artifact_root=root) as registry:
        print("ready", flush=True)
        for _ in range(int(loops)):
            print(registry.register("churn", source).version, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
