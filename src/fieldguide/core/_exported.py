"""Full-batch loops kept as exported programs beside JAX's compilation cache, so a new process skips tracing.

JAX's persistent cache stores compiled executables, but it is consulted only after a function has been traced and
lowered, which for Optax's L-BFGS takes ~150 ms on every first fit in a process. Here a loop's traced program is
stored with ``jax.export`` (StableHLO, no Python: loading one runs no code) under ``cache_dir()/jax/exported``,
keyed by everything that decides the program: the loop, the ``Problem`` (built-in models and objectives only),
the shapes and dtypes of its inputs, the JAX settings read while tracing, the platform (a machine with a GPU keeps
a CPU program and a CUDA one side by side), and the versions of JAX, Optax and fieldguide's core source. A file
that fails its checksum, does not load or was lowered for another platform is ignored and written again. Each new
version or shape adds a file (~50 KB): past ``MAX_BYTES`` in all, the least recently used go, as JAX's own cache
bounds itself; a write cut short by a killed process leaves a temporary file, removed by a later pruning.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jax

from fieldguide.core import models, objectives

logger = logging.getLogger(__name__)

_BUILT_IN_MODELS = (models.Linear, models.MLP, models.FactorizationMachine)
_DIGEST = hashlib.sha256().digest_size
MAX_BYTES = 256 << 20  # the stored programs, all together (~5,000 of them)
STALE_SECONDS = 3600  # a temporary file this old was left by a writer that died mid-write (a write takes ms)
_CALLS: dict[str, Callable | None] = {}  # key -> jitted call of the exported program (None: not exportable)


def cache_disabled() -> bool:
    """``FIELDGUIDE_JAX_CACHE=0`` (or false, no, off) turns off the compilation cache and the exported loops."""
    return os.environ.get("FIELDGUIDE_JAX_CACHE", "1").strip().lower() in ("0", "false", "no", "off")


def directory() -> Path | None:
    """Where exported loops live: beside JAX's persistent compilation cache, when there is one."""
    cache = jax.config.jax_compilation_cache_dir
    return None if not cache or cache_disabled() else Path(cache) / "exported"


def loop(run: Callable, problem, data: tuple, hyper: dict) -> Callable:
    """``step(carry, stop)`` running ``run(problem, carry, data, stop, hyper)``: from a stored exported program
    when the problem is built from fieldguide's own models and objectives and a cache directory is set, else
    the jitted loop itself."""
    folder = directory()
    exportable = (
        folder is not None
        and isinstance(problem.optimizer, str)
        and problem.shards == 1  # a sharded loop is jitted for its mesh
        and type(problem.model) in _BUILT_IN_MODELS
        and type(problem.objective).__module__ == objectives.__name__
    )

    def direct(carry: dict, stop: int) -> dict:
        return run(problem, carry, data=data, stop=stop, hyper=hyper)

    if not exportable:
        return direct

    platform = jax.export.default_export_platform()  # "cuda", not JAX's alias "gpu", which export keeps as is

    def step(carry: dict, stop: int) -> dict:
        leaves, tree = jax.tree.flatten((carry, data, stop, hyper))
        types = tuple(jax.typeof(leaf) for leaf in leaves)
        config = (jax.config.jax_enable_x64, jax.config.jax_default_matmul_precision)
        key = _key(run, problem, tree, types, config, platform)
        if key not in _CALLS:
            _load_or_export(key, folder / f"{key}.bin", platform, run, problem, tree, types)
        call = _CALLS[key]
        if call is None:
            return direct(carry, stop)
        return jax.tree.unflatten(jax.tree.structure(carry), call(*leaves))

    return step


def forget() -> None:
    """Drop the loaded programs (their files stay): the next fit of each key reads its file again."""
    _CALLS.clear()


@functools.lru_cache(maxsize=4096)  # a repeated fit's key in a dict lookup, where building it takes ~0.15 ms
def _key(run: Callable, problem, tree, types: tuple, config: tuple, platform: str) -> str:
    """The stored program's name: a digest of everything its lowering depends on (``config``: the JAX settings
    read while tracing, 64-bit types and the matrix products' precision)."""
    parts = [
        f"{run.__module__}.{run.__name__}",
        repr(problem),
        str(tree),
        ";".join(f"{t.dtype}{list(t.shape)}{'w' if t.weak_type else ''}" for t in types),
        f"x64, matmul precision={config}",
        platform,
        *_versions(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@functools.cache
def _versions() -> tuple[str, ...]:
    """JAX, jaxlib and Optax versions, and a digest of fieldguide's core source (a changed loop, a new key)."""
    import jaxlib
    import optax

    core = Path(__file__).parent
    source = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(core.glob("*.py")))).hexdigest()
    return jax.__version__, jaxlib.__version__, optax.__version__, source


def _load_or_export(key: str, path: Path, platform: str, run: Callable, problem, tree, types: tuple) -> None:
    """Fill ``_CALLS[key]``: the stored program, else a new one exported and stored, else None (not exportable:
    traced as a plain jitted loop from then on)."""
    exported = _read(path, platform)
    if exported is None:
        exported = _export(run, problem, tree, types, platform)
        if exported is None:
            _CALLS[key] = None
            return
        try:
            _write(path, exported.serialize())
        except Exception as err:  # serialization needs flatbuffers; without it the program still runs here
            logger.debug("could not serialize %s: %s", run.__name__, err)
        prune(path.parent)
    else:
        _touch(path)
    _CALLS[key] = jax.jit(exported.call)


def _export(run: Callable, problem, tree, types: tuple, platform: str):
    def flat(*leaves):
        carry, data, stop, hyper = jax.tree.unflatten(tree, leaves)
        return jax.tree.leaves(run(problem, carry, data=data, stop=stop, hyper=hyper))

    specs = [jax.ShapeDtypeStruct(t.shape, t.dtype, weak_type=t.weak_type) for t in types]
    try:
        return jax.export.export(jax.jit(flat), platforms=[platform])(*specs)
    except Exception as err:  # a program JAX cannot export: fall back to the jitted loop, never fail a fit
        logger.debug("not exporting %s: %s", run.__name__, err)
        return None


def _read(path: Path, platform: str):
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, payload = blob[:_DIGEST], blob[_DIGEST:]
    if hashlib.sha256(payload).digest() != digest:
        logger.warning("%s: checksum mismatch, exporting the loop again", path)
        return None
    try:
        exported = jax.export.deserialize(bytearray(payload))
    except Exception as err:  # written by another version, or damaged in a way the checksum cannot tell
        logger.warning("%s: unreadable (%s), exporting the loop again", path, err)
        return None
    if platform not in exported.platforms:  # copied from another machine: calling it would fail the fit
        logger.warning("%s: lowered for %s, not %s; exporting it again", path, exported.platforms, platform)
        return None
    return exported


def _touch(path: Path) -> None:
    """Mark a stored program used now (its modification time orders the pruning: atime is often not kept)."""
    with contextlib.suppress(OSError):  # a read-only cache, where nothing is pruned either
        os.utime(path)


def prune(folder: Path, max_bytes: int | None = None) -> None:
    """Remove the least recently used programs until those left take at most ``max_bytes`` (``MAX_BYTES``), and
    the temporary files of writes that never finished (a process killed while writing), once ``STALE_SECONDS``
    old: a younger one may be another process's write in progress."""
    limit = MAX_BYTES if max_bytes is None else max_bytes
    for entry in folder.glob("*.tmp"):
        with contextlib.suppress(OSError):  # renamed or removed meanwhile by its writer
            if time.time() - entry.stat().st_mtime > STALE_SECONDS:
                entry.unlink()
    stored = []
    for entry in folder.glob("*.bin"):
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            stored.append((entry.stat(), entry))
    total = sum(stat.st_size for stat, _ in stored)
    for stat, entry in sorted(stored, key=lambda item: item[0].st_mtime):
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            entry.unlink()
        total -= stat.st_size


def _write(path: Path, payload: bytes | bytearray) -> None:
    """Atomically: a reader sees the old file or the whole new one, never half of it."""
    payload, tmp = bytes(payload), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, path)
    except OSError as err:  # a read-only or full disk costs speed, not the fit
        logger.debug("could not store %s: %s", path, err)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
