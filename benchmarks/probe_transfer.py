"""How long a GLM's X takes to reach the device, by each way of sending it, and where a warm fit's time goes.

    python benchmarks/probe_transfer.py [--rows 200000] [--cols 50] [--profile]

Times (best of 10, each waiting until the data is on the device) the host staging of X (cast, pad to its row
bucket, check finite: ``stage_rows``), one ``jax.device_put`` of the staged buffer, of the raw X, of X in parts,
by way of page-locked host memory (JAX's ``pinned_host`` memory kind), staged part by part in threads with each
part sent as soon as it is staged, and as fieldguide sends it (``_learner._send``). PyTorch's copies from pageable
and from page-locked memory, where PyTorch sees a GPU, give the link's own speed. With ``--profile``, a cProfile
of 10 warm ``LogisticRegression`` fits.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, glm_data


def best(call) -> float:
    """Best of 10 calls after a first one, each waiting until its result is on the device."""
    import jax

    def wait() -> None:
        jax.block_until_ready(call())

    wait()
    return best_time(wait, repeats=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    from fieldguide.core import _learner

    X, y = glm_data("logistic", args.rows, args.cols)
    n_pad = _learner.bucket(args.rows)
    device = jax.devices()[0]
    mb = X.nbytes / 1e6
    print(f"device {device}, X {X.shape} {X.dtype} {mb:.1f} MB, row bucket {n_pad}")
    staged = _learner.stage_rows(X, n_pad, "float32")

    def note(label: str, seconds: float) -> None:
        print(f"{label:<58} {seconds * 1e3:8.2f} ms  {mb / 1e3 / seconds:6.1f} GB/s of X")

    note("stage_rows (host: cast, pad, check)", best(lambda: _learner.stage_rows(X, n_pad, "float32")))
    note("device_put(staged)", best(lambda: jax.device_put(staged)))
    note("device_put(X) unpadded", best(lambda: jax.device_put(X)))
    frozen = X.copy()
    frozen.setflags(write=False)
    note("device_put(read-only X)", best(lambda: jax.device_put(frozen)))
    for parts in (4, 16, 64):
        pieces = np.array_split(staged, parts)
        note(f"device_put(list of {parts} parts)", best(lambda pieces=pieces: jax.device_put(pieces)))
        note(
            f"device_put of {parts} parts, one call each",
            best(lambda pieces=pieces: [jax.device_put(p) for p in pieces]),
        )
    join = jax.jit(lambda parts: jnp.concatenate(parts))
    pieces = np.array_split(staged, 16)
    note("16 parts sent, then joined on the device", best(lambda: join(jax.device_put(pieces))))

    def threaded(parts: int):  # each of the staging threads checks and sends its parts as it stages them
        bounds = np.linspace(0, n_pad, parts + 1).astype(int)
        out = _learner._aligned_empty((n_pad, X.shape[1]), np.dtype("float32"))

        def stage_and_send(i: int):
            a, b = bounds[i], bounds[i + 1]
            out[a : min(b, args.rows)] = X[a : min(b, args.rows)]
            out[max(a, args.rows) : b] = 0
            assert _learner._all_finite(out[a:b])
            return jax.device_put(out[a:b])

        return join(list(_learner._stage_pool().map(stage_and_send, range(parts))))

    for parts in (8, 16):
        note(
            f"staged in threads, each part sent when staged ({parts}), joined",
            best(lambda p=parts: threaded(p)),
        )
    note("fieldguide's _send", best(lambda: _learner._send(staged)))
    note(
        "fieldguide: stage_rows, then _send",
        best(lambda: _learner._send(_learner.stage_rows(X, n_pad, "float32"))),
    )
    try:
        pinned_kind = jax.sharding.SingleDeviceSharding(device, memory_kind="pinned_host")
        on_device = jax.sharding.SingleDeviceSharding(device, memory_kind="device")
        note("device_put(staged) into pinned_host", best(lambda: jax.device_put(staged, pinned_kind)))
        held = jax.device_put(staged, pinned_kind)
        note("pinned_host -> device", best(lambda: jax.device_put(held, on_device)))
    except Exception as error:  # a probe reports what the platform refuses
        print(f"pinned_host: {type(error).__name__}: {error}")
    try:
        import torch

        if torch.cuda.is_available():
            t = torch.from_numpy(staged)
            sync = torch.cuda.synchronize
            note("torch: pageable -> cuda", best(lambda: (t.cuda(), sync())[0].shape))
            locked = t.pin_memory()
            note(
                "torch: page-locked -> cuda", best(lambda: (locked.cuda(non_blocking=True), sync())[0].shape)
            )
    except ImportError:
        print("torch: not installed")

    if args.profile:
        from fieldguide.models import LogisticRegression

        model = LogisticRegression()
        note("LogisticRegression().fit warm", best(lambda: model.fit(X, y).coef_))
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(10):
            model.fit(X, y)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
