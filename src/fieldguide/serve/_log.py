"""The prediction log: one row per answered request, written in batches by a background task.

The table ``prediction_log`` (created when missing, in the registry's database unless told otherwise) is what
``fieldguide monitor`` reads. Its columns:

=================  ==========================================================================================
``id``             integer primary key, increasing in write order
``request_id``     the request's ``id`` (the client's, else a generated 32-hex-digit one); echoed in responses
``created_at``     when the request arrived (UTC, timezone-aware)
``model_name``     the served model's registry name
``model_version``  the registry version that answered (changes on hot reload)
``route``          ``predict`` (JSON records) or ``infer`` (Open Inference Protocol)
``n_rows``         number of rows in the request
``inputs``         JSON list of the request's records (one object per row), keys limited to the schema's columns
                   (features, plus identifier or target columns when the client sent them); non-finite numbers
                   are stored as null
``outputs``        JSON ``{"predictions": [...], "probabilities": [{class: p}, ...] or null}``, one entry per row
``warnings``       JSON list of what the request was warned about (unknown categories, unknown fields)
``latency_ms``     time from the request's arrival to its answer, milliseconds
=================  ==========================================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from fieldguide.registry import _store

logger = logging.getLogger("fieldguide.serve")

_Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
metadata = sa.MetaData()
prediction_log = sa.Table(
    "prediction_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("model_name", sa.String(_store.NAME_MAX), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("inputs", _Json, nullable=False),
    sa.Column("outputs", _Json, nullable=False),
    sa.Column("warnings", _Json, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Index("ix_prediction_log_model", "model_name", "model_version"),
)
_RETRY_S = (0.5, 1.0, 2.0, 5.0)


class PredictionLog:
    """Rows appended on the event loop, written to ``url`` in batches off it; nothing is dropped.

    A failed write keeps its rows queued and is retried with back-off (counted by ``on_error``); :meth:`close`
    writes everything left. ``on_depth`` is told the queue length after each change.

    >>> import asyncio, datetime, tempfile
    >>> async def demo(url):
    ...     log = PredictionLog(url)
    ...     log.start()
    ...     log.append({"request_id": "r1", "created_at": datetime.datetime.now(datetime.UTC), "model_name": "churn", "model_version": 1,
    ...                 "route": "predict", "n_rows": 1, "inputs": [{"age": 30}],
    ...                 "outputs": {"predictions": [0], "probabilities": None}, "warnings": [], "latency_ms": 1.5})
    ...     await log.close()
    ...     return log.count()
    >>> asyncio.run(demo(f"sqlite:///{tempfile.mkdtemp()}/log.db"))
    1
    """

    def __init__(
        self,
        url: str,
        *,
        batch_rows: int = 500,
        interval_s: float = 0.2,
        on_depth: Callable[[int], None] = lambda _n: None,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = _store.hide_password(url)
        self._engine = _store.create_engine(url)
        self._writer = self._engine.execution_options(**_store.WRITE)
        with self._writer.begin() as connection:
            metadata.create_all(connection)
        self._batch_rows = batch_rows
        self._interval_s = interval_s
        self._on_depth = on_depth
        self._on_error = on_error
        self._pending: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._failures = 0
        self._stopping = False

    @property
    def depth(self) -> int:
        return len(self._pending)

    def append(self, row: dict[str, Any]) -> None:
        """Queue one row (event-loop thread only); the background task writes it."""
        self._pending.append(row)
        self._on_depth(len(self._pending))
        if len(self._pending) >= self._batch_rows:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fieldguide-prediction-log")

    async def flush(self) -> int:
        """Write every queued row now; returns how many were written. Raises if the database refuses them."""
        written = 0
        async with self._lock:
            while self._pending:
                rows, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self._write, rows)
                except BaseException:
                    self._pending[:0] = rows  # keep them, in order, for the next try
                    raise
                finally:
                    self._on_depth(len(self._pending))
                written += len(rows)
        return written

    async def close(self) -> None:
        """Stop the background task and write what is left (clean shutdown)."""
        if self._task is not None:
            self._stopping = (
                True  # not cancel(): a write in progress must finish, or its rows would be written twice
            )
            self._wake.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            logger.exception("prediction log: %d rows could not be written to %s", self.depth, self.url)
            raise
        finally:
            self._engine.dispose()

    def count(self) -> int:
        """Rows in the table (all models)."""
        with self._engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(prediction_log)).scalar_one()

    async def _run(self) -> None:
        delay = self._interval_s
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.flush()
                self._failures, delay = 0, self._interval_s
            except Exception as err:
                self._on_error()
                delay = _RETRY_S[min(self._failures, len(_RETRY_S) - 1)]
                self._failures += 1
                logger.warning(
                    "prediction log: write to %s failed (%s); %d rows kept, retrying in %.1f s",
                    self.url,
                    str(err).splitlines()[0],
                    self.depth,
                    delay,
                )

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self._writer.begin() as connection:
            connection.execute(sa.insert(prediction_log), [_plain(row) for row in rows])


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """The row with JSON columns PostgreSQL accepts: non-finite numbers become null (fast path: none)."""
    try:
        json.dumps(row["inputs"], allow_nan=False)
    except ValueError:
        row = {**row, "inputs": _finite(row["inputs"])}
    return row


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
