"""Helpers of the serve tests: fitted pipelines, real uvicorn servers on loopback ports, the log's rows."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
import uvicorn

from fieldguide.pipeline import Pipeline
from fieldguide.registry import Registry
from fieldguide.serve import ModelSource, ServeSettings, create_app

MODEL = "churn"
TOKEN = "s3cret-admin-token-for-tests"


@dataclass(frozen=True)
class Fitted:
    """Two versions of a churn pipeline (trained on different seeds) and rows to score."""

    v1: Pipeline
    v2: Pipeline
    dirs: tuple[Path, Path]
    rows: pl.DataFrame  # features only, as a client would send them

    def records(self, n: int | None = None) -> list[dict[str, Any]]:
        """JSON-ready records (datetimes as ISO strings)."""
        frame = self.rows if n is None else self.rows.head(n)
        return [
            {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
            for row in frame.to_dicts()
        ]


@contextlib.contextmanager
def make_registry(root: Path, fitted: Fitted) -> Iterator[Registry]:
    """A SQLite registry under ``root`` holding versions 1 and 2 of ``churn``, ``champion`` pointing at 1."""
    with Registry(f"sqlite:///{root / 'registry.db'}", artifact_root=root / "artifacts") as reg:
        for directory in fitted.dirs:
            reg.register(MODEL, directory)
        reg.set_alias(MODEL, "champion", 1)
        yield reg


@dataclass
class Running:
    """A server running in a background thread: its base URL and its app state."""

    url: str
    app: Any
    uvicorn: uvicorn.Server

    @property
    def server(self) -> Any:
        return self.app.state.server

    @property
    def hostport(self) -> str:
        return self.url.removeprefix("http://")


@contextlib.contextmanager
def serving(
    registry: Registry, log_url: str, ref: int | str = "champion", **settings: Any
) -> Iterator[Running]:
    """Run ``fieldguide serve``'s app with uvicorn on a free loopback port; stop it cleanly on exit."""
    settings.setdefault("poll_s", 0)
    app = create_app(ModelSource(registry, MODEL, ref), ServeSettings(**settings), log_url=log_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # keep-alive outlasts any test's traffic: a request sent on a connection at the instant the server's idle
    # timer closes it ends in ReadError (HTTP/1.1's race, which clients retry around). On a starved machine a
    # response can reach the client seconds after it left, so a client-side expiry shorter than uvicorn's 5 s
    # default did not rule the race out (the load test failed so in 1 CI run)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=30, timeout_keep_alive=120
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{sock.getsockname()[1]}", app, server)
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def log_rows(log_url: str) -> list[dict[str, Any]]:
    """Every row of the prediction log, in write order."""
    from fieldguide.serve import prediction_log

    engine = sa.create_engine(log_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return [
                dict(r._mapping)
                for r in connection.execute(sa.select(prediction_log).order_by(prediction_log.c.id))
            ]
    finally:
        engine.dispose()
