"""Every gate test runs with a home and registry of its own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDGUIDE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FIELDGUIDE_REGISTRY", raising=False)
