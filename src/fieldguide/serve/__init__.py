"""Serving a registered pipeline: Open Inference Protocol v2 REST, ``/predict`` for JSON records, validation
against the training schema, adaptive micro-batching, a prediction log, Prometheus metrics and hot reload.

    >>> from fieldguide.registry import Registry                                          # doctest: +SKIP
    >>> from fieldguide.serve import ModelSource, ServeSettings, create_app               # doctest: +SKIP
    >>> app = create_app(ModelSource(Registry(), "churn", "champion"),                    # doctest: +SKIP
    ...                  ServeSettings(max_batch_rows=512), log_url="sqlite:///log.db")
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)                      # doctest: +SKIP

The command line does the same: ``fieldguide serve churn --alias champion``. The columns of the
``prediction_log`` table (what ``monitor`` reads) are documented in :mod:`fieldguide.serve._log`.

Importing this package is cheap; Starlette, SQLAlchemy and the Prometheus client load on first use of a name.
"""

from __future__ import annotations

from fieldguide._lazy import exports

__getattr__, __dir__ = exports(
    __name__,
    {
        "create_app": "_app",
        "PredictionLog": "_log",
        "prediction_log": "_log",
        "ModelSource": "_model",
        "Served": "_model",
        "ServeSettings": "_settings",
        "free_port": "_client",
        "wait_until_ready": "_client",
    },
)

__all__ = [
    "ModelSource",
    "PredictionLog",
    "ServeSettings",
    "Served",
    "create_app",
    "free_port",
    "prediction_log",
    "wait_until_ready",
]
