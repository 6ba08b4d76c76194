"""What is served: a pipeline loaded from the registry, and where to look for the next one."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fieldguide.data import Schema
from fieldguide.registry import Registry

Loader = Callable[[Path], Any]


@dataclasses.dataclass(frozen=True, eq=False)
class Served:
    """One loaded pipeline and the registry version it came from. Requests hold on to the ``Served`` they
    arrived under, so a hot reload never changes the model under a request already in flight."""

    name: str
    version: int
    pipeline: Any
    loaded_at: datetime

    @property
    def schema(self) -> Schema:
        return self.pipeline.schema

    @functools.cached_property
    def classes(self) -> list[Any] | None:
        """Class labels of a classifier, in the order of its probabilities; ``None`` for a regressor."""
        classes = getattr(self.pipeline, "classes_", None)
        return None if classes is None else [_plain(c) for c in classes]

    @functools.cached_property
    def columns(self) -> frozenset[str]:
        """The schema's column names: the fields of a record worth logging."""
        return frozenset(self.schema.names)


class ModelSource:
    """A model in a registry, followed by alias (``champion``) or pinned to one version.

    loader: turns an artifact directory into a pipeline; default ``fieldguide.pipeline.Pipeline.load``.
    """

    def __init__(
        self, registry: Registry, name: str, ref: int | str = "champion", loader: Loader | None = None
    ):
        self.registry = registry
        self.name = name
        self.ref = ref
        self._loader = loader

    @property
    def pinned(self) -> bool:
        """Whether the source names a version (nothing to follow) rather than an alias."""
        return isinstance(self.ref, int) or str(self.ref).isdigit()

    def describe(self) -> str:
        return (
            f"model {self.name!r} {'version' if self.pinned else 'alias'} {self.ref} in {self.registry.url}"
        )

    def current_version(self) -> int:
        """The version the reference points to now (blocking: call off the event loop)."""
        return self.registry.get(self.name, self.ref).version

    def load(self, version: int) -> Served:
        """Verify and load ``version`` (blocking: call off the event loop)."""
        directory = self.registry.open(self.name, version)
        return Served(self.name, version, self._load(directory), datetime.now(UTC))

    def _load(self, directory: Path) -> Any:
        if self._loader is not None:
            return self._loader(directory)
        from fieldguide.pipeline import Pipeline

        return Pipeline.load(directory)


def example_record(schema: Schema) -> dict[str, Any]:
    """A record every feature of ``schema`` accepts: the smallest value seen in training, the first category.

    >>> import polars as pl
    >>> from fieldguide.data import infer_schema
    >>> example_record(infer_schema(pl.DataFrame({"age": [31, 45], "plan": ["b", "a"], "ok": [True, False]})))
    {'age': 31, 'plan': 'a', 'ok': False}
    """
    record: dict[str, Any] = {}
    for spec in schema.features:
        if spec.kind == "numeric":
            low = spec.min if isinstance(spec.min, int | float) else 0
            record[spec.name] = int(low) if spec.dtype.startswith(("Int", "UInt")) else float(low)
        elif spec.kind == "boolean":
            record[spec.name] = False
        elif spec.kind == "datetime":
            record[spec.name] = spec.min if isinstance(spec.min, str) else "2000-01-01T00:00:00"
        else:
            record[spec.name] = spec.categories[0] if spec.categories else ""
    return record


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so they serialize to JSON."""
    return value.item() if hasattr(value, "item") else value
