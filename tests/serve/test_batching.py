"""Micro-batching and per-request validation, without a server."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from fieldguide.data import infer_schema
from fieldguide.serve._app import batch_sizes, padded_size
from fieldguide.serve._batching import MicroBatcher
from fieldguide.serve._requests import Rejected, screen


def _run_batches(sizes: list[int], max_batch_rows: int, fail: bool = False) -> tuple[list[list[int]], list]:
    """Submit jobs of ``sizes`` rows at once; the batches the model saw (as job sizes) and each job's outcome."""
    seen: list[list[int]] = []

    def run(jobs):
        seen.append([len(job.records) for job in jobs])
        if fail:
            raise RuntimeError("model exploded")
        return [[r["i"] * 10 for r in job.records] for job in jobs]

    async def main():
        batcher = MicroBatcher(run, max_batch_rows=max_batch_rows, max_latency_ms=50)
        batcher.start()
        try:
            jobs = [[{"i": i}] * size for i, size in enumerate(sizes)]
            return await asyncio.gather(*(batcher.submit("model", j) for j in jobs), return_exceptions=True)
        finally:
            await batcher.close()

    return seen, asyncio.run(main())


def test_concurrent_jobs_share_batches_up_to_the_row_limit_in_arrival_order():
    seen, outcomes = _run_batches([1, 2, 1, 3, 5, 1], max_batch_rows=4)
    assert seen == [[1, 2, 1], [3], [5], [1]]  # the 5-row job exceeds the limit and runs alone
    assert outcomes == [[i * 10] * n for i, n in enumerate([1, 2, 1, 3, 5, 1])]


def test_a_failing_model_call_is_reported_to_every_request_of_the_batch():
    _, outcomes = _run_batches([1, 1], max_batch_rows=8, fail=True)
    assert all(isinstance(o, RuntimeError) and "exploded" in str(o) for o in outcomes)


@pytest.mark.parametrize(
    ("rows", "size"), [(1, 1), (2, 2), (3, 4), (9, 16), (1000, 1024), (1024, 1024), (2000, 2000)]
)
def test_batches_are_padded_to_powers_of_two_up_to_the_limit(rows, size):
    assert padded_size(rows, 1024) == size


@pytest.mark.parametrize("max_batch_rows", [1, 64, 1000, 1024])
def test_the_warm_up_runs_every_padded_size(max_batch_rows):
    padded = {padded_size(rows, max_batch_rows) for rows in range(1, max_batch_rows + 1)}
    assert padded == set(batch_sizes(max_batch_rows))


def test_violations_are_attributed_to_their_request_with_its_own_row_numbers():
    schema = infer_schema(pl.DataFrame({"age": [30, 40, 50], "plan": ["a", "b", "a"]}))
    requests = [
        [{"age": 31, "plan": "a"}],
        [{"age": 20, "plan": "a"}, {"age": "old", "plan": "a"}],
        [{"age": 33, "plan": "z", "extra": 1}],
    ]
    lenient = screen(schema, requests, strict=False)
    assert lenient[0] == []
    assert isinstance(lenient[1], Rejected) and lenient[1].status == 400
    assert lenient[1].message == "age: expected numeric, found string 'old' at row 1"
    assert lenient[2] == [
        "extra: unknown field, not in the model's schema",
        "plan: expected a known category, found string 'z' at row 0",
    ]
    strict = screen(schema, requests, strict=True)
    assert strict[0] == [] and isinstance(strict[2], Rejected) and "plan" in strict[2].message
