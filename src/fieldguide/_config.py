"""Where fieldguide keeps its files, from flags, environment variables or their defaults.

``FIELDGUIDE_HOME`` (default ``./.fieldguide``) holds the registry database and artifacts;
``FIELDGUIDE_REGISTRY`` overrides the registry's SQLAlchemy URL (default SQLite under the home);
``FIELDGUIDE_CACHE`` (default ``$XDG_CACHE_HOME/fieldguide``, else ``~/.cache/fieldguide``) holds compiled programs.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The fieldguide home directory (not created here)."""
    return Path(os.environ.get("FIELDGUIDE_HOME", ".fieldguide")).expanduser()


def registry_url() -> str:
    """The registry's SQLAlchemy URL: ``FIELDGUIDE_REGISTRY`` or SQLite under :func:`home`."""
    url = os.environ.get("FIELDGUIDE_REGISTRY")
    if url:
        return url
    return f"sqlite:///{(home() / 'registry.db').resolve()}"


def cache_dir() -> Path:
    """Per-user cache (the JAX persistent compilation cache lives here): ``FIELDGUIDE_CACHE`` or the default."""
    if os.environ.get("FIELDGUIDE_CACHE"):
        return Path(os.environ["FIELDGUIDE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fieldguide"
