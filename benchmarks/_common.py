"""Shared pieces of the training benchmarks: seeded data, timers, fresh-process runs, peak memory, tables.

Run by hand (not by the tests). "First fit" runs in a fresh Python process (imports and data creation excluded,
JIT compilation included); "warm" is the best of a few fits after a first one in the same process. Peak memory is
the growth of the process's maximum resident set size (``resource.getrusage().ru_maxrss``) during one fit, in a
fresh process whose baseline is taken after imports and data creation, divided by the size of X. On an
accelerator, the device's own peak (JAX's allocator, ``memory_stats()``) is reported beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def glm_data(
    kind: str,
    n: int = 200_000,
    d: int = 50,
    seed: int = 0,
    dtype=np.float32,
    scaled: bool = False,
    offset: float = 0.0,
):
    """A seeded dense problem: standard normal X and a target drawn from the GLM ``kind``.

    ``scaled``: the features are correlated (mixed by ``I + 0.8·N(0, 1/d)``) and scaled by factors from 0.03 to 30,
    as raw columns are; the coefficients are scaled back so that ``X @ beta`` keeps the same spread.
    ``offset``: added to the linear predictor (the true intercept): -4 makes about 3 % of the logistic labels
    positive, 5 makes the Poisson counts average about e^5.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    beta = rng.normal(scale=1.0 / np.sqrt(d), size=d)
    if scaled:
        X = (X @ (np.eye(d) + 0.8 * rng.normal(size=(d, d)) / np.sqrt(d))) * 10 ** rng.uniform(-1.5, 1.5, d)
        beta = beta / X.std(axis=0)
    X = X.astype(dtype)
    eta = X.astype(np.float64) @ beta
    if kind == "logistic":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(eta + offset)))).astype(np.int64)
    elif kind == "poisson":
        y = rng.poisson(np.exp(0.5 * eta + offset)).astype(np.float64)
    elif kind == "ridge":
        y = eta + offset + rng.normal(size=n)
    else:
        raise ValueError(kind)
    return X, y


def devices_arg(value: str) -> int | str:
    """``--devices``: an integer or ``all``, as the zoo's ``devices`` parameter takes them."""
    return value if value == "all" else int(value)


def best_time(fit: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of ``repeats`` calls (after the caller's own first call)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return min(times)


def per_call(call: Callable[[object], object], argument: object, calls: int, repeats: int) -> float:
    """Best mean seconds per ``call(argument)`` over ``repeats`` loops of ``calls`` calls, after a warm-up call."""
    call(argument)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call(argument)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def fresh_process(script: str, *args: str, env: dict | None = None) -> dict:
    """Run ``python script args`` in a fresh process and return the JSON it prints on its last line."""
    out = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def maxrss_bytes() -> int:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


def measure_once(fit: Callable[[], object], x_bytes: int) -> dict:
    """Time one fit and the growth of peak RSS it causes, for a fresh process (see the module docstring).

    ``warm_peak_over_x``: where Linux lets the peak be reset (``/proc/self/clear_refs``), the same fit once more and
    the growth of its peak over the RSS before it: the memory the fit's data takes, without the compiler's.
    """
    baseline = maxrss_bytes()
    start = time.perf_counter()
    fit()
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "peak_over_x": (maxrss_bytes() - baseline) / x_bytes}
    device_peak = _device_peak_bytes()
    if device_peak is not None:
        result["device_peak_over_x"] = device_peak / x_bytes
    try:
        result["warm_peak_over_x"] = peak_and_kept(fit)[0] / x_bytes
    except OSError:
        result["warm_peak_over_x"] = float("nan")
    return result


def peak_and_kept(call: Callable[[], object]) -> tuple[int, int]:
    """Bytes by which ``call`` grew the peak RSS over the RSS before it, and the RSS it still holds after it
    returned (its result dropped). Linux only (``/proc/self/clear_refs`` resets the peak): OSError elsewhere."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    call()
    return (_status_kib("VmHWM") - before) * 1024, (_status_kib("VmRSS") - before) * 1024


def _device_peak_bytes() -> int | None:
    """The most JAX's or PyTorch's allocator has held on the first GPU so far, or None where neither used one (the
    RSS is then the figure). Read after the fit, so the device's start stays in its time; in a fresh process the
    fit was the first thing on the device, so this is the fit's peak."""
    jax, torch = sys.modules.get("jax"), sys.modules.get("torch")
    if jax is not None and jax.default_backend() != "cpu":
        return (jax.local_devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
    if torch is not None and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated()
    return None


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1])


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain Markdown table (pasteable into benchmarks/README.md); a cell a row lacks reads "–"."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c, "–")) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
