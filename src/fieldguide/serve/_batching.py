"""Adaptive micro-batching: concurrent requests queue up and reach the model as one call.

A batch runs as soon as it holds ``max_batch_rows`` rows or its oldest request has waited ``max_latency_ms``.
The model runs in one worker thread, so while a batch is computing the next one fills up: under load batches
grow by themselves and throughput rises with concurrency, while a lone request waits at most the budget.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


@dataclasses.dataclass(eq=False)
class Job:
    """One request's records on their way to the model, with the pipeline it arrived under."""

    served: Any
    records: list[dict[str, Any]]
    future: asyncio.Future
    enqueued: float


class MicroBatcher:
    """Queues jobs and hands them to ``run`` in batches, in a worker thread.

    run: called with a list of jobs, returns one outcome per job (a result or an exception to raise there).
    """

    def __init__(
        self, run: Callable[[Sequence[Job]], list[Any]], *, max_batch_rows: int, max_latency_ms: float
    ) -> None:
        self._run = run
        self._max_rows = max_batch_rows
        self._budget_s = max_latency_ms / 1000
        self._pending: deque[Job] = deque()
        self._pending_rows = 0
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldguide-model")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="fieldguide-batcher")

    async def close(self) -> None:
        """Answer what is queued, then stop (the server has stopped taking requests)."""
        while self._pending:
            await self._run_batch(self._take())
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, served: Any, records: list[dict[str, Any]]) -> Any:
        """Queue ``records`` for ``served``'s model and wait for their outcome."""
        loop = asyncio.get_running_loop()
        job = Job(served, records, loop.create_future(), loop.time())
        self._pending.append(job)
        self._pending_rows += len(records)
        self._arrived.set()
        outcome = await job.future
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def run_in_worker(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function`` in the model thread, between batches (e.g. loading a new pipeline's caches)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = self._pending[0].enqueued + self._budget_s
            while self._pending_rows < self._max_rows and (remaining := deadline - loop.time()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
            await self._run_batch(self._take())

    def _take(self) -> list[Job]:
        """The oldest jobs up to ``max_batch_rows`` rows (at least one job, however large)."""
        batch = [self._pending.popleft()]
        rows = len(batch[0].records)
        while self._pending and rows + len(self._pending[0].records) <= self._max_rows:
            batch.append(self._pending.popleft())
            rows += len(batch[-1].records)
        self._pending_rows -= rows
        return batch

    async def _run_batch(self, batch: list[Job]) -> None:
        try:
            outcomes = await self.run_in_worker(self._run, batch)
        except Exception as err:  # run() answers per job; this is a bug in it, reported to every caller
            outcomes = [err] * len(batch)
        for job, outcome in zip(batch, outcomes, strict=True):
            if not job.future.done():  # the client may have gone away
                job.future.set_result(outcome)
