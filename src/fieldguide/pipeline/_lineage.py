"""Lineage of a fitted pipeline: which data, code, configuration and environment produced it."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fieldguide import __version__

GIT_TIMEOUT_S = 2.0
_VERSIONED = ("numpy", "jax", "polars", "scikit-learn", "lightgbm", "xgboost")


def fingerprint(frame: pl.DataFrame) -> dict[str, Any]:
    """An order-independent fingerprint of a table: shape, column names and dtypes, and the rows' hashes.

    The row hash is the sum (mod 2⁶⁴) of Polars' ``hash_rows(seed=0)``: shuffling rows keeps it, changing,
    adding, duplicating or dropping a row changes it. Polars does not promise stable hashes across its versions,
    so the Polars version is part of the record (``versions`` in the lineage).

    >>> import polars as pl
    >>> a = pl.DataFrame({"x": [1, 2, 3]})
    >>> fingerprint(a)["sha256"] == fingerprint(a.reverse())["sha256"]
    True
    """
    hashes = frame.hash_rows(seed=0).to_numpy() if frame.height and frame.width else np.zeros(0, np.uint64)
    row_hash = f"{int(np.sum(hashes, dtype=np.uint64)):016x}"
    columns = [[name, str(dtype)] for name, dtype in frame.schema.items()]
    summary = {"rows": frame.height, "columns": columns, "row_hash": row_hash}
    digest = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
    return {**summary, "sha256": digest}


def git_state(directory: str | Path = ".") -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout around ``directory``; ``None`` outside one."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists), or its repr when JSON cannot hold it (an
    ensemble's member estimators, say)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return repr(value)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def lineage(frame: pl.DataFrame, *, model: Any, seed: int, config: dict[str, Any] | None) -> dict[str, Any]:
    """The lineage record of a pipeline fitted on ``frame`` (JSON-ready); package versions are ``None`` when a
    package is not installed."""
    record: dict[str, Any] = {
        "data": fingerprint(frame),
        "model": type(model).__name__,
        "params": {k: _plain(v) for k, v in model.get_params(deep=False).items()},
        "config": config or {},
        "seed": seed,
        "fieldguide_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in _VERSIONED},
        },
    }
    git = git_state()
    if git is not None:
        record["git"] = git
    return record
