"""Versioned model artifacts with aliases (``champion``), checksummed and immutable, in SQLite or PostgreSQL.

An artifact is a directory of safe files (JSON, safetensors, boosters' model text) written by a pipeline; the
registry copies it into its store, checksums every file, and records metrics, params, lineage and tags:

    >>> from fieldguide.registry import Registry          # doctest: +SKIP
    >>> reg = Registry()                                   # doctest: +SKIP
    >>> reg.register("churn", "out/pipeline", metrics={"roc_auc": 0.91})  # doctest: +SKIP
    >>> reg.set_alias("churn", "champion", 1)             # doctest: +SKIP
    >>> reg.open("churn", "champion")                     # doctest: +SKIP

Importing this package is cheap; SQLAlchemy loads on first use of a name below (the CLI stays fast).
"""

from __future__ import annotations

from fieldguide._lazy import exports

__getattr__, __dir__ = exports(
    __name__,
    {
        "Event": "_registry",
        "ModelVersion": "_registry",
        "Registry": "_registry",
        "check_model_name": "_registry",
    },
)

__all__ = ["Event", "ModelVersion", "Registry", "check_model_name"]
