"""The ASGI app: Open Inference Protocol v2 routes, ``/predict``, metrics, admin routes, and their lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fieldguide import __version__
from fieldguide.errors import DataError, FieldguideError
from fieldguide.serve import _openapi
from fieldguide.serve._batching import Job, MicroBatcher
from fieldguide.serve._log import PredictionLog
from fieldguide.serve._metrics import CONTENT_TYPE, Metrics
from fieldguide.serve._model import ModelSource, Served, example_record
from fieldguide.serve._requests import (
    OUTPUTS,
    Rejected,
    infer_records,
    parse_json,
    predict_records,
    screen,
    unanswerable,
)
from fieldguide.serve._settings import ServeSettings

logger = logging.getLogger("fieldguide.serve")


class Server:
    """The state behind the routes: the served pipeline, the batcher, the prediction log and the metrics."""

    def __init__(self, source: ModelSource, settings: ServeSettings, log_url: str) -> None:
        self.source = source
        self.settings = settings
        self.log_url = log_url
        self.metrics = Metrics()
        self.served: Served | None = None
        self.batcher: MicroBatcher | None = None
        self.log: PredictionLog | None = None
        self._reloading = asyncio.Lock()
        self._follower: asyncio.Task | None = None

    # -- lifespan ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.served is None:
            self.served = await asyncio.to_thread(
                self.source.load, await asyncio.to_thread(self.source.current_version)
            )
        await asyncio.to_thread(self._warm_up, self.served)
        self._swap(self.served)
        self.log = await asyncio.to_thread(
            PredictionLog,
            self.log_url,
            batch_rows=self.settings.log_batch_rows,
            interval_s=self.settings.log_interval_s,
            on_depth=self.metrics.log_queue.set,
            on_error=self.metrics.errors.labels("log_write").inc,
        )
        self.log.start()
        self.batcher = MicroBatcher(
            self._run_batch,
            max_batch_rows=self.settings.max_batch_rows,
            max_latency_ms=self.settings.max_latency_ms,
        )
        self.batcher.start()
        if not self.source.pinned and self.settings.poll_s > 0:
            self._follower = asyncio.get_running_loop().create_task(self._follow(), name="fieldguide-reload")

    async def stop(self) -> None:
        """Clean shutdown: requests are answered by now (uvicorn waits); write the whole prediction log."""
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self.batcher is not None:
            await self.batcher.close()
        if self.log is not None:
            await self.log.close()

    # -- hot reload --------------------------------------------------------------------------------------------

    async def reload(self) -> tuple[int, int]:
        """Load the version the reference points to now, if it moved; returns (previous, current) version.

        The new pipeline is loaded in the background and swapped in one assignment: requests already queued keep
        the pipeline they arrived under, so none is dropped or answered by a half-loaded model.
        """
        async with self._reloading:
            previous = self._current()
            version = await asyncio.to_thread(self.source.current_version)
            if version != previous.version:
                try:
                    served = await asyncio.to_thread(self.source.load, version)
                    await asyncio.to_thread(self._warm_up, served)
                except Exception:
                    self.metrics.reloads.labels("failed").inc()
                    raise
                self._swap(served)
                self.metrics.reloads.labels("swapped").inc()
                logger.info("now serving %s version %d (was %d)", served.name, version, previous.version)
            return previous.version, version

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_s)
            try:
                await self.reload()
            except Exception as err:  # keep serving the current version; try again at the next poll
                logger.warning("hot reload of %s failed: %s", self.source.describe(), err)

    def _warm_up(self, served: Served) -> None:
        """Run every padded batch size once (blocking), so that a model that compiles per input shape (JAX)
        compiles now rather than while a request waits; a pipeline that cannot is served cold."""
        record = example_record(served.schema)
        try:
            for size in batch_sizes(self.settings.max_batch_rows):
                served.pipeline.predict_records([record] * size)
        except Exception as err:
            logger.warning(
                "warm-up of %s version %d failed (%s); serving it cold", served.name, served.version, err
            )

    def _swap(self, served: Served) -> None:
        self.served = served
        self.metrics.model_version.labels(served.name).set(served.version)

    def _current(self) -> Served:
        if self.served is None:
            raise Rejected(503, "not_ready", "the model is not loaded yet")
        return self.served

    # -- the model thread --------------------------------------------------------------------------------------

    def _run_batch(self, jobs: Sequence[Job]) -> list[Any]:
        """Validate then predict a micro-batch; one outcome per job: (results, warnings) or a Rejected."""
        self.metrics.batch_requests.observe(len(jobs))
        self.metrics.batch_rows.observe(sum(len(job.records) for job in jobs))
        outcomes: list[Any] = [None] * len(jobs)
        by_model: dict[Served, list[int]] = {}
        for i, job in enumerate(jobs):
            by_model.setdefault(job.served, []).append(i)
        for served, indices in by_model.items():
            verdicts = screen(served.schema, [jobs[i].records for i in indices], self.settings.strict)
            accepted = []
            for i, verdict in zip(indices, verdicts, strict=True):
                if isinstance(verdict, Rejected):
                    outcomes[i] = verdict
                else:
                    accepted.append((i, verdict))
            if accepted:
                self._predict(served, jobs, accepted, outcomes)
        return outcomes

    def _predict(
        self, served: Served, jobs: Sequence[Job], accepted: list[tuple[int, list[str]]], outcomes: list
    ) -> None:
        records = [record for i, _ in accepted for record in jobs[i].records]
        padding = padded_size(len(records), self.settings.max_batch_rows) - len(records)
        try:
            # screen() validated these records against this schema: the pipeline need not again (~10 ms)
            results = served.pipeline.predict_records(records + records[-1:] * padding, validate=False)
        except Exception as err:
            if len(accepted) > 1:  # find the request the model refuses; answer the others
                for one in accepted:
                    self._predict(served, jobs, [one], outcomes)
                return
            i = accepted[0][0]
            if isinstance(err, DataError):
                outcomes[i] = Rejected(400, "model_input", str(err))
            else:
                logger.exception("model %s version %d failed on request", served.name, served.version)
                outcomes[i] = Rejected(
                    500, "internal", f"the model failed on this request ({type(err).__name__})"
                )
            return
        start = 0  # the padding's results, at the end, are left out
        for i, warnings in accepted:
            stop = start + len(jobs[i].records)
            part = results[start:stop]
            outcomes[i] = unanswerable(part, jobs[i].records, served.schema) or (part, warnings)
            start = stop

    # -- answering ---------------------------------------------------------------------------------------------

    async def answer(self, request: Request, route: str, parse: Callable[[Any, Served], tuple]) -> tuple:
        """Read, check and predict one request; log it. Returns (served, request id, parsed, results, warnings)."""
        started, arrived = time.perf_counter(), datetime.now(UTC)
        served = self._current()
        document = parse_json(await _body(request, self.settings.max_body_bytes))
        records, request_id, *extra = parse(document, served)
        assert self.batcher is not None and self.log is not None
        results, warnings = await self.batcher.submit(served, records)
        request_id = request_id or uuid.uuid4().hex
        columns = served.columns
        self.log.append(
            {
                "request_id": request_id,
                "created_at": arrived,
                "model_name": served.name,
                "model_version": served.version,
                "route": route,
                "n_rows": len(records),
                "inputs": [{k: v for k, v in r.items() if k in columns} for r in records],
                "outputs": {
                    "predictions": [r["prediction"] for r in results],
                    "probabilities": [r["probabilities"] for r in results]
                    if served.classes is not None
                    else None,
                },
                "warnings": warnings,
                "latency_ms": (time.perf_counter() - started) * 1000,
            }
        )
        return served, request_id, extra, results, warnings


def padded_size(rows: int, max_batch_rows: int) -> int:
    """The batch size a model sees: ``rows`` rounded up to a power of two (at most ``max_batch_rows``), so that
    models compiled per input shape see a dozen shapes instead of a thousand.

    >>> padded_size(5, 1024), padded_size(1024, 1024), padded_size(1500, 1024)
    (8, 1024, 1500)
    """
    size = 1 << max(rows - 1, 0).bit_length()
    return size if size <= max_batch_rows else max(rows, max_batch_rows)


def batch_sizes(max_batch_rows: int) -> list[int]:
    """Every size :func:`padded_size` gives a micro-batch: the sizes a warm-up runs.

    >>> batch_sizes(1000)
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    """
    return [1 << k for k in range(max_batch_rows.bit_length()) if 1 << k < max_batch_rows] + [max_batch_rows]


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    too_large = Rejected(413, "too_large", f"request body exceeds this server's limit of {limit} bytes")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


# -- routes --------------------------------------------------------------------------------------------------------


def create_app(
    source: ModelSource, settings: ServeSettings | None = None, *, log_url: str, served: Served | None = None
) -> Starlette:
    """The prediction server for ``source`` as an ASGI app (run it with uvicorn).

    log_url: SQLAlchemy URL of the database that receives the ``prediction_log`` table (the CLI passes the
        registry's); the table is created when the app starts (its lifespan).
    served: the pipeline already loaded from ``source`` (the CLI loads it first to report errors cleanly);
        by default it is loaded when the app starts.

    >>> from fieldguide.registry import Registry                       # doctest: +SKIP
    >>> source = ModelSource(Registry(), "churn", "champion")           # doctest: +SKIP
    >>> app = create_app(source, log_url="sqlite:///predictions.db")    # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)   # doctest: +SKIP
    """
    settings = settings or ServeSettings()
    server = Server(source, settings, log_url)
    server.served = served
    metrics = server.metrics

    def route(
        path: str, label: str, handler: Callable[[Request], Awaitable[Response]], method: str = "GET"
    ) -> Route:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except Rejected as err:
                metrics.errors.labels(err.kind).inc()
                response = JSONResponse(err.body(), err.status, headers=_challenge(err))
            except Exception as err:
                logger.exception("%s %s failed", request.method, request.url.path)
                metrics.errors.labels("internal").inc()
                response = JSONResponse({"error": f"internal error ({type(err).__name__})"}, 500)
            metrics.requests.labels(label, str(response.status_code)).inc()
            metrics.latency.labels(label).observe(time.perf_counter() - started)
            return response

        return Route(path, endpoint, methods=[method], name=label)

    def model_of(request: Request) -> Served:
        served = server._current()
        name = request.path_params["name"]
        if name != served.name:
            raise Rejected(
                404, "not_found", f"model {name!r} is not served here; this server serves {served.name!r}"
            )
        version = request.path_params.get("version")
        if version is not None and version != str(served.version):
            raise Rejected(
                404,
                "not_found",
                f"model {name!r} version {version!r} is not served; this server serves version {served.version}",
            )
        return served

    def authorize(request: Request) -> None:
        token = settings.admin_token
        if token is None:
            raise Rejected(
                404, "not_found", "admin routes are disabled: set FIELDGUIDE_ADMIN_TOKEN to enable them"
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Rejected(
                401, "unauthorized", "admin routes need the header 'Authorization: Bearer <token>'"
            )

    async def live(_request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(_request: Request) -> Response:
        if server.served is None or server.batcher is None:
            return JSONResponse({"ready": False}, 503)
        return JSONResponse({"ready": True})

    async def server_metadata(_request: Request) -> Response:
        return JSONResponse({"name": "fieldguide", "version": __version__, "extensions": []})

    async def model_metadata(request: Request) -> Response:
        return JSONResponse(_openapi.model_metadata(model_of(request)))

    async def model_ready(request: Request) -> Response:
        served = model_of(request)
        return JSONResponse({"name": served.name, "ready": True})

    async def infer(request: Request) -> Response:
        model_of(request)

        def parse(document: Any, served: Served) -> tuple:
            records, request_id, wanted = infer_records(document, served.schema, settings.max_rows)
            wanted = wanted or (OUTPUTS if served.classes is not None else ("predict",))
            if "probabilities" in wanted and served.classes is None:
                raise Rejected(
                    400,
                    "bad_request",
                    f"outputs: model {served.name!r} is a regressor; it has only 'predict'",
                )
            return records, request_id, wanted

        served, request_id, (wanted,), results, warnings = await server.answer(request, "infer", parse)
        return JSONResponse(_infer_response(served, request_id, wanted, results, warnings))

    async def predict(request: Request) -> Response:
        def parse(document: Any, _served: Served) -> tuple:
            return predict_records(document, settings.max_rows)

        served, request_id, _, results, warnings = await server.answer(request, "predict", parse)
        classifier = served.classes is not None
        return JSONResponse(
            {
                "id": request_id,
                "model": served.name,
                "version": served.version,
                "predictions": [r["prediction"] for r in results],
                "probabilities": [_keyed(r["probabilities"]) for r in results] if classifier else None,
                "warnings": warnings,
            }
        )

    async def metrics_text(_request: Request) -> Response:
        if server.log is not None:
            metrics.log_queue.set(server.log.depth)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(_openapi.document(server._current(), settings))

    async def admin_reload(request: Request) -> Response:
        authorize(request)
        try:
            previous, current = await server.reload()
        except FieldguideError as err:
            serving = server._current().version
            raise Rejected(
                500, "reload_failed", f"reload failed, still serving version {serving}: {err}"
            ) from err
        return JSONResponse(
            {"model": source.name, "previous": previous, "version": current, "changed": previous != current}
        )

    async def admin_flush(request: Request) -> Response:
        authorize(request)
        assert server.log is not None
        written = await server.log.flush()
        return JSONResponse({"written": written, "queued": server.log.depth})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        metrics.requests.labels("unmatched", str(status)).inc()
        metrics.errors.labels(
            "not_found" if status == 404 else "bad_method" if status == 405 else "http"
        ).inc()
        return JSONResponse({"error": f"{detail}: {request.method} {request.url.path}"}, status)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    routes = [
        route("/v2/health/live", "health_live", live),
        route("/v2/health/ready", "health_ready", ready),
        route("/v2", "server_metadata", server_metadata),
        *(
            r
            for prefix in (model, versioned)
            for r in (
                route(prefix, "model_metadata", model_metadata),
                route(f"{prefix}/ready", "model_ready", model_ready),
                route(f"{prefix}/infer", "infer", infer, "POST"),
            )
        ),
        route("/predict", "predict", predict, "POST"),
        route("/metrics", "metrics", metrics_text),
        route("/openapi.json", "openapi", openapi),
        route("/admin/reload", "admin_reload", admin_reload, "POST"),
        route("/admin/flush-log", "admin_flush_log", admin_flush, "POST"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.server = server
    return app


def _challenge(err: Rejected) -> dict[str, str] | None:
    return {"WWW-Authenticate": "Bearer"} if err.status == 401 else None


def _keyed(probabilities: dict[Any, float]) -> dict[str, float]:
    return {str(label): float(p) for label, p in probabilities.items()}


def _infer_response(
    served: Served, request_id: str, wanted: Sequence[str], results: list[dict[str, Any]], warnings: list[str]
) -> dict[str, Any]:
    n = len(results)
    classes = served.classes
    outputs = []
    for name in wanted:
        if name == "predict":
            datatype = _openapi.prediction_datatype(served)
            data = [_openapi.as_datatype(r["prediction"], datatype) for r in results]
            outputs.append({"name": "predict", "shape": [n], "datatype": datatype, "data": data})
        elif classes is not None:  # a regressor asked for probabilities was refused before predicting
            data = [float(_probability(r["probabilities"], c)) for r in results for c in classes]
            outputs.append(
                {"name": "probabilities", "shape": [n, len(classes)], "datatype": "FP64", "data": data}
            )
    body: dict[str, Any] = {
        "model_name": served.name,
        "model_version": str(served.version),
        "id": request_id,
        "outputs": outputs,
    }
    if warnings:
        body["parameters"] = {"warnings": "; ".join(warnings)}
    return body


def _probability(probabilities: dict[Any, float], label: Any) -> float:
    return probabilities[label] if label in probabilities else probabilities[str(label)]
