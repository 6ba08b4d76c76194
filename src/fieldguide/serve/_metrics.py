"""Prometheus metrics of one server, in a registry of its own (several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


class Metrics:
    """The server's counters, histograms and gauges; :meth:`render` gives the text exposition format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "fieldguide_requests",
            "HTTP requests by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "fieldguide_errors",
            "Refused or failed requests by kind (a schema rule such as wrong_type, malformed_json, too_large, "
            "not_found, unauthorized, internal) and failed prediction-log writes (log_write).",
            ["kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fieldguide_request_latency_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "fieldguide_batch_rows",
            "Rows per micro-batch handed to the model.",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "fieldguide_batch_requests",
            "Requests per micro-batch handed to the model.",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.log_queue = Gauge(
            "fieldguide_prediction_log_queue_rows",
            "Prediction-log rows waiting to be written.",
            registry=self.registry,
        )
        self.model_version = Gauge(
            "fieldguide_model_version",
            "The version of the model being served.",
            ["model"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "fieldguide_model_reloads",
            "Hot reloads by outcome (swapped, failed).",
            ["outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
