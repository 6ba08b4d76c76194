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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty registry database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        yield request.getfixturevalue("postgres_schema_url")


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
