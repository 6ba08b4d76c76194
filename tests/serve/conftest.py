"""Serve fixtures: fitted pipelines registered as versions 1 and 2 of ``churn``, and log databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldguide.data.synthetic import customers
from fieldguide.models import LogisticRegression
from fieldguide.pipeline import Pipeline
from fieldguide.registry import Registry
from serve_support import Fitted, make_registry


@pytest.fixture(scope="session")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    root = tmp_path_factory.mktemp("pipelines")
    pipes = [
        Pipeline.fit(customers(300, seed=seed), target="churn", model=LogisticRegression()) for seed in (0, 1)
    ]
    dirs = tuple(pipe.save(root / f"v{i + 1}") for i, pipe in enumerate(pipes))
    rows = customers(64, seed=7).drop("churn")
    return Fitted(pipes[0], pipes[1], dirs, rows)  # type: ignore[arg-type]


@pytest.fixture
def registry(tmp_path: Path, fitted: Fitted) -> Iterator[Registry]:
    """A SQLite registry holding versions 1 and 2 of ``churn``, ``champion`` pointing at 1."""
    with make_registry(tmp_path, fitted) as reg:
        yield reg


@pytest.fixture
def log_url(database_url: str) -> str:
    """The prediction log's database: SQLite and PostgreSQL in turn (``database_url``)."""
    return database_url
