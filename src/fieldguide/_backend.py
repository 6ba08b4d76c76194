"""Where independent tasks run: in this process, in local worker processes, or on Ray.

A back end has one method, ``map(fn, items)``: call ``fn`` on every item and return the results in the order of
``items``, showing a Rich progress bar as tasks finish. ``fn`` must be a module-level function (it travels by
pickling to the workers; nothing is written to disk). A task that raises stops the map and re-raises in the caller
as :class:`TaskError`, naming the task; the worker's exception is its ``__cause__``.

``shared`` is an object every task needs (a table, the folds): it is sent once per worker process or put once in
Ray's object store, and ``fn`` is then called as ``fn(item, shared)``.

When do processes pay off? Each spawned worker starts a fresh interpreter, imports NumPy, JAX, Polars and
scikit-learn (8–10 s on the 2-core development machine) and compiles its own JAX code for every model, while one
process already uses both cores inside XLA. Measured there (``compare`` in a fresh interpreter, load average
13–19 from other jobs): 300 rows × 3 models × 3 folds took 39 s in-process and 88 s with 2 workers; 20 000 rows
× 3 models (logistic regression, MLP, random forest) × 5×2 folds took 211 s in-process and 252 s with 2 workers.
So on 2 cores processes never paid off and the default is in-process; ``n_jobs`` > 1 is for machines with more
cores than one process keeps busy (single-threaded models such as forests and kNN, many trials), and Ray for a
cluster.

Example:
    >>> from fieldguide.backends import get_backend
    >>> get_backend("local").map(abs, [-2, 3, -4], show_progress=False)
    [2, 3, 4]
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import closing, contextmanager
from typing import Any

from fieldguide.errors import FieldguideError

BACKENDS = ("local", "ray")


class TaskError(FieldguideError, RuntimeError):
    """A task of ``Backend.map`` raised; ``task`` is its index in ``items`` and ``__cause__`` the exception."""

    def __init__(self, description: str, task: int, name: str, error: BaseException):
        self.task = task
        super().__init__(f"{description}: task {task} ({name}) failed: {type(error).__name__}: {error}")


class Backend:
    """Runs independent tasks and returns their results in order. Subclasses say how tasks run
    (``_completed``); ``map`` is the same for all."""

    def map(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        shared: Any = None,
        description: str = "Working",
        names: Sequence[str] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
        show_progress: bool = True,
    ) -> list[Any]:
        """``fn(item)`` (or ``fn(item, shared)``) for every item, in the order of ``items``.

        Args:
            shared: an object every task needs, sent once per worker; ``fn`` then gets it as second argument.
            names: how errors name each task (default: a short ``repr`` of the item).
            on_result: called in the caller as ``on_result(index, result)`` as each task finishes (in completion
                order), e.g. to update a live table.
            show_progress: False when the caller shows its own progress.
        """
        items = list(items)
        names = _task_names(items, names)
        results: list[Any] = [None] * len(items)
        with (
            _progress(description, len(items), show_progress) as advance,
            closing(self._completed(fn, items, shared)) as completed,
        ):
            for index, result, error in completed:
                if error is not None:
                    raise TaskError(description, index, names[index], error) from error
                results[index] = result
                if on_result is not None:
                    on_result(index, result)
                advance()
        return results

    def _completed(
        self, fn: Callable[..., Any], items: list[Any], shared: Any
    ) -> Generator[tuple[int, Any, BaseException | None]]:
        """Yields ``(index, result, None)`` or ``(index, None, error)`` as tasks finish; closing it stops them."""
        raise NotImplementedError


def get_backend(name: str = "local", **options: Any) -> Backend:
    """The back end called ``name``: ``"local"`` (options: ``n_jobs``) or ``"ray"`` (options: ``address``,
    ``gpus_per_task``). Public as ``fieldguide.backends.get_backend``.

    Example:
        >>> get_backend("local", n_jobs=1).n_jobs
        1
    """
    if name == "local":
        return LocalBackend(**options)
    if name == "ray":
        return RayBackend(**options)
    raise FieldguideError(f"backend: expected one of {', '.join(BACKENDS)}, found {name!r}")


class LocalBackend(Backend):
    """Tasks in this process (``n_jobs=1``, the default) or in ``n_jobs`` spawned worker processes (-1: one per
    core). Workers are spawned, never forked (JAX is multithreaded), and live for one ``map``; see the module
    docstring for when they pay off. Scripts that use workers need the ``if __name__ == "__main__":`` guard. On a
    GPU, workers share its memory: each allocates as it goes (``XLA_PYTHON_CLIENT_PREALLOCATE=false``) unless one
    of JAX's memory variables is set.
    """

    def __init__(self, n_jobs: int | None = None):
        if n_jobs is not None and (n_jobs == 0 or n_jobs < -1):
            raise FieldguideError(
                f"n_jobs: expected a positive number, -1 (every core) or None, found {n_jobs}"
            )
        self.n_jobs = 1 if n_jobs is None else (os.cpu_count() or 1) if n_jobs == -1 else n_jobs

    def _completed(self, fn, items, shared):
        if self.n_jobs == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                try:
                    result = _call(fn, item, shared)
                except Exception as error:
                    yield index, None, error
                else:
                    yield index, result, None
            return
        context = multiprocessing.get_context("spawn")
        workers = min(self.n_jobs, len(items))
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(shared,)
        ) as pool:
            pending = {pool.submit(_call_shared, fn, item): i for i, item in enumerate(items)}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        error = future.exception()
                        yield pending.pop(future), None if error else future.result(), error
            finally:  # stopped early (a failed task, Ctrl-C): drop the queued tasks, let running ones end
                pool.shutdown(wait=False, cancel_futures=True)


class RayBackend(Backend):
    """Tasks as Ray remote functions, on the cluster at ``address`` or, with ``address=None``, on the instance
    this process already joined or a new local one (``ray.init``). Requires the ``ray`` extra, and fieldguide
    installed on every node (task functions travel by reference to their module).

    Each task asks Ray for one CPU and ``gpus_per_task`` GPUs (a fraction shares a GPU: 0.25 runs four tasks on
    each). Ray shows a task only the GPUs it was given, and the task's JAX allocates GPU memory as it goes
    (``XLA_PYTHON_CLIENT_PREALLOCATE=false``) unless this process sets one of JAX's memory variables, which are
    then passed on. With the default 0, on a cluster that has GPUs, tasks see none and fit on their CPU: Ray
    would otherwise leave every GPU visible to a task that asked for none, and each task's JAX would claim 75 %
    of the first one's memory.
    """

    def __init__(self, address: str | None = None, gpus_per_task: float = 0.0):
        if not (isinstance(gpus_per_task, int | float) and gpus_per_task >= 0) or (
            gpus_per_task > 1 and gpus_per_task != int(gpus_per_task)
        ):
            raise FieldguideError(
                "gpus_per_task: expected 0, a fraction of one GPU or a whole number of GPUs, "
                f"found {gpus_per_task!r}"
            )
        try:
            import ray
        except ImportError:
            raise FieldguideError(
                "backend 'ray': Ray is not installed; install it with pip install 'fieldguide[ray]'"
            ) from None
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        self.address = address
        self.gpus_per_task = gpus_per_task
        self._ray = ray

    def task_options(self) -> dict[str, Any]:
        """The options each task is submitted with (``ray.remote``'s): its GPUs and its environment."""
        if self.gpus_per_task:
            return {"num_gpus": self.gpus_per_task, "runtime_env": {"env_vars": _gpu_memory_variables()}}
        if self._ray.cluster_resources().get("GPU", 0):
            return {"runtime_env": {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}}}
        return {}

    def _completed(self, fn, items, shared):
        ray = self._ray
        remote = ray.remote(_call).options(**self.task_options())
        shared_ref = ray.put(shared)  # one copy in the object store, resolved before each task runs
        index_of = {remote.remote(fn, item, shared_ref): i for i, item in enumerate(items)}
        pending = list(index_of)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    yield index_of[done[0]], ray.get(done[0]), None
                except ray.exceptions.RayTaskError as error:
                    yield index_of[done[0]], None, error.cause if error.cause is not None else error
        finally:
            for ref in pending:
                ray.cancel(ref)


# -- helpers shared by the back ends ---------------------------------------------------------------------------
_SHARED: Any = None  # in a worker process: the ``shared`` object of the current map


# JAX's variables for its share of a GPU's memory: where the user sets none, a worker asks for memory as it goes
_GPU_MEMORY_VARIABLES = (
    "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_PYTHON_CLIENT_MEM_FRACTION",
    "XLA_CLIENT_MEM_FRACTION",
)


def _start_worker(shared: Any) -> None:
    """A local worker's start: keep ``shared`` for its tasks and, unless the user chose otherwise, stop JAX from
    taking 75 % of a GPU's memory at its first operation (workers share the GPU with each other and the caller:
    the second one to start would fail on memory the first holds unused)."""
    global _SHARED
    _SHARED = shared
    os.environ.update(_gpu_memory_variables())


def _gpu_memory_variables() -> dict[str, str]:
    """JAX's memory variables for a worker that shares a GPU: the ones this process sets, or, where it sets
    none, ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (allocate as it goes, not 75 % of the GPU at the start)."""
    chosen = {name: os.environ[name] for name in _GPU_MEMORY_VARIABLES if name in os.environ}
    return chosen or {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def _call(fn: Callable[..., Any], item: Any, shared: Any) -> Any:
    return fn(item) if shared is None else fn(item, shared)


def _call_shared(fn: Callable[..., Any], item: Any) -> Any:
    return _call(fn, item, _SHARED)


def _task_names(items: list[Any], names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [_short_repr(item) for item in items]
    if len(names) != len(items):
        raise ValueError(f"names: expected one per item ({len(items)}), found {len(names)}")
    return list(names)


def _short_repr(item: Any, limit: int = 60) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def _progress(description: str, total: int, show: bool):
    """Yields ``advance()``; a Rich progress bar on stderr while the block runs when ``show``."""
    if not show:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)
