"""The app factory: settings, store, model and similarity window loaded in the lifespan (`serving/runtime.py`),
middleware for request ids and scrubbed JSON logs, Prometheus metrics, the /v1 API (`serving/routes/`) and the
review pages (`serving/pages/`)."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.middleware.sessions import SessionMiddleware
from threadpoolctl import threadpool_limits

from serving import errors
from serving.config import ServiceSettings, get_service_settings
from serving.limits import BodyLimit, Busy, InFlightLimit, busy_response
from serving.logs import configure_logging, get_logger, scrub
from serving.model_source import LoadedModel
from serving.privacy import key_file
from serving.runtime import Metrics, Runtime
from serving.store import Store
from triage import __version__

log = get_logger("serving.app")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _session_secret(settings: ServiceSettings) -> str:
    if settings.session_secret:
        return settings.session_secret
    # created once, owner-only, the first of several workers' kept: every worker signs with the same secret
    return key_file(Path(settings.data_dir) / "session.key", secrets.token_urlsafe(48).encode()).decode()


def create_app(settings: ServiceSettings | None = None, model: LoadedModel | None = None,
               background: bool = False) -> FastAPI:
    """The app. With `model` given it is served as is (tests); otherwise the lifespan loads the configured one,
    in a background thread when `background` is set (so /healthz answers and /readyz says 'not yet')."""
    settings = settings or get_service_settings()
    configure_logging(settings.log_level)
    # BLAS and OpenMP pools no larger than the CPUs this process may use (a container's cpuset, not the
    # host's core count), shared among the workers: more threads than cores only contend with the request and
    # batcher threads.
    threadpool_limits(max(1, len(os.sched_getaffinity(0)) // settings.workers))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.store_url(), settings.sqlite_synchronous, settings.data_protector())
        runtime = app.state.runtime = Runtime(settings, store, metrics)
        metrics.review_queue.set_function(store.queue_length)
        metrics.window.set_function(runtime.window_size)
        metrics.alert_outbox.set_function(store.outbox_pending)
        runtime.start_outbox()  # before the model: alerts left pending by the last run need no model to be sent
        loader = threading.Thread(target=runtime.start, args=(model,), name="model-loader", daemon=True)
        loader.start()
        if not background:
            loader.join()
        try:
            yield
        finally:
            loader.join()
            if runtime.batcher is not None:
                runtime.batcher.close()
            if runtime.intake is not None:
                runtime.intake.save_snapshot()
            runtime.stop_outbox()
            store.close()

    app = FastAPI(
        title="complaint triage",
        version=__version__,
        summary="Routing decisions for Chinese financial-consumer complaints: category, urgency tier with "
                "reasons, department, escalations, statutory deadlines, repeat and group complaints.",
        lifespan=lifespan,
    )
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    Instrumentator(registry=registry, excluded_handlers=["/metrics", "/healthz", "/readyz", "/static.*"]) \
        .instrument(app).expose(app, endpoint="/metrics", include_in_schema=True, tags=["ops"])
    for route in app.routes:  # the document says what /metrics answers: Prometheus text, not JSON
        if isinstance(route, APIRoute) and route.path == "/metrics":
            route.response_class = PlainTextResponse
    app.add_middleware(SessionMiddleware, secret_key=_session_secret(settings), session_cookie="triage_session",
                       max_age=int(settings.session_lifetime.total_seconds()), same_site="strict",
                       https_only=settings.secure_cookies)  # the session itself is server-side (serving.pages)
    # Inside the request log (a 429 is logged with its request id), outside everything that does work.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)  # inside the request log: its 413 is logged
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight, retry_after=settings.retry_after_seconds,
                       metrics=metrics.limits)

    @app.exception_handler(Busy)
    async def busy(_request: Request, exc: Busy) -> JSONResponse:
        return busy_response(f"{exc}; retry after {settings.retry_after_seconds} s", settings.retry_after_seconds)

    # 422 echoing inputs JSON cannot hold (Infinity, lone surrogates) safely; 405 naming every method of the path
    app.add_exception_handler(RequestValidationError, errors.invalid_request)
    app.add_exception_handler(405, errors.method_not_allowed)
    app.add_exception_handler(400, errors.unparsable_body)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        # The caller's request id is kept when it is a plain token that carries no personal data (it is logged
        # as is); otherwise we make one.
        request_id = request.headers.get("x-request-id", "")
        if not _REQUEST_ID.fullmatch(request_id) or scrub(request_id) != request_id:
            request_id = uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error", method=request.method, path=request.url.path)
            response = JSONResponse({"detail": "internal error; the request id names it in the logs"}, 500)
        response.headers["X-Request-ID"] = request_id
        principal = getattr(request.state, "principal", None)
        log.info("request", method=request.method, path=request.url.path, status=response.status_code,
                 ms=round((time.perf_counter() - started) * 1000, 1),
                 key_id=principal.key_id if principal else None, role=principal.role if principal else None)
        return response

    from serving import pages, routes

    app.include_router(routes.ops_router)
    for part in routes.V1_ROUTERS:
        app.include_router(part)
    app.include_router(pages.router)
    for exception, handler in pages.EXCEPTION_HANDLERS.items():
        app.add_exception_handler(exception, handler)
    return app
