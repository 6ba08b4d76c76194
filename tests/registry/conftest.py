"""Registry fixtures: one registry URL per back end (SQLite file, PostgreSQL schema) and seeded artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_workers import write_artifact

from fieldguide.registry import Registry


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDGUIDE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FIELDGUIDE_REGISTRY", raising=False)
    monkeypatch.delenv("FIELDGUIDE_REGISTRY_FAULT", raising=False)


@pytest.fixture
def registry_url(database_url: str) -> str:
    """The registry's database: SQLite and PostgreSQL in turn (``database_url``)."""
    return database_url


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def registry(registry_url: str, artifact_root: Path) -> Iterator[Registry]:
    with Registry(registry_url, artifact_root=artifact_root) as reg:
        yield reg


@pytest.fixture
def artifact(tmp_path: Path):
    """Makes seeded artifact directories: ``artifact(seed)``."""
    return lambda seed, tensor_bytes=4096: write_artifact(tmp_path / f"source-{seed}", seed, tensor_bytes)
