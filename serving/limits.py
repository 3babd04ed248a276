"""Backpressure: the service answers "too busy, retry after N s" at once rather than ever later.

Bounds answered 429 with `Retry-After`:
- requests in flight (`InFlightLimit`, an ASGI middleware): every request but the probes, /metrics and the
  static files. Uvicorn's `--limit-concurrency` would answer 503 without `Retry-After` and count the probes too.
- complaints waiting to be decided (`IntakeQueue`), single complaints in the micro-batcher and batch requests
  together: at most so many, and no more than so many seconds of work at the pace the intake keeps.

And a body limit (`BodyLimit`): 413 naming the limit, on Content-Length or while reading, before any parsing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Answered whatever the load: an orchestrator's probes and the scraper must see a busy server as alive.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EXEMPT_PREFIXES = ("/static/",)


class LimitMetrics:
    """What the bounds see, in the app's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.in_flight = Gauge("triage_requests_in_flight", "Requests being handled (probes and /metrics not "
                               "counted)", registry=registry)
        self.waiting = Gauge("triage_intake_waiting_complaints", "Complaints accepted for deciding and not yet "
                             "answered", registry=registry)
        self.shed = Counter("triage_requests_shed", "Requests answered 429 because a bound was reached",
                            ["bound"], registry=registry)


class Busy(Exception):
    """A bound is reached: answered 429 with Retry-After (`busy_response`)."""


def busy_response(message: str, retry_after: int) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=429, headers={"Retry-After": str(retry_after)})


class InFlightLimit:
    """At most `limit` requests are handled at once; one more is answered 429 with Retry-After immediately.

    A plain ASGI middleware on the event loop: the count is checked and raised with no await in between, so no
    lock is needed. The count covers the whole request, the streaming of its answer included."""

    def __init__(self, app: ASGIApp, limit: int, retry_after: int, metrics: LimitMetrics):
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.metrics.shed.labels("in_flight").inc()
            response = busy_response(f"the service is handling its limit of {self.limit} requests at once; "
                                     f"retry after {self.retry_after} s", self.retry_after)
            await response(scope, receive, send)
            return
        self.in_flight += 1
        self.metrics.in_flight.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.set(self.in_flight)


class IntakeQueue:
    """Complaints accepted for deciding and not yet answered. Two bounds, both answered `Busy` (429) for the
    whole request:

    - a count: at most `limit` complaints waiting;
    - a time: the complaints ahead of a newcomer would take longer than `max_wait` seconds to decide, at the
      pace of the intake's last `PACE_WINDOW` answers (time it was busy per complaint answered; idle time not
      counted). The count alone would bound latency only on a machine of known speed; this holds on a slow or
      shared one too.

    One request is always let in when nothing waits, so a batch larger than the bound is still served, and a
    slow machine still serves one request at a time. Used from the request threads: a lock. `clock` is for
    tests."""

    PACE_WINDOW = 128

    def __init__(self, limit: int, metrics: LimitMetrics, max_wait: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.max_wait = max_wait
        self.metrics = metrics
        self.clock = clock
        self.waiting = 0
        # Busy time per recent answer: since the previous answer, or since work arrived at an idle intake. A
        # micro-batch answered at once gives its whole time to one complaint and 0 to the others: the mean holds.
        self._busy: deque[float] = deque(maxlen=self.PACE_WINDOW)
        self._since = 0.0
        self._lock = threading.Lock()

    def seconds_per_complaint(self) -> float | None:
        """The recent pace: busy seconds per complaint answered; None before two answers."""
        if len(self._busy) < 2:
            return None
        return sum(self._busy) / len(self._busy)

    def _refuse(self, complaints: int) -> str | None:
        if not self.waiting:
            return None
        if self.waiting + complaints > self.limit:
            self.metrics.shed.labels("intake_queue").inc()
            return (f"{self.waiting} complaints are waiting to be decided; {complaints} more would exceed the "
                    f"intake's limit of {self.limit}")
        pace = self.seconds_per_complaint()
        if self.max_wait is not None and pace is not None and (self.waiting + complaints) * pace > self.max_wait:
            self.metrics.shed.labels("intake_wait").inc()
            return (f"{self.waiting} complaints are waiting to be decided, about {self.waiting * pace:.1f} s of "
                    f"work at the current pace; the intake takes no more than {self.max_wait:g} s")
        return None

    @contextmanager
    def admit(self, complaints: int) -> Iterator[None]:
        with self._lock:
            refused = self._refuse(complaints)
            if refused:
                raise Busy(refused)
            if not self.waiting:  # idle until now: busy time counts from here
                self._since = self.clock()
            self.waiting += complaints
            self.metrics.waiting.set(self.waiting)
        try:
            yield
        finally:
            with self._lock:
                self.waiting -= complaints
                self.metrics.waiting.set(self.waiting)
                now = self.clock()
                self._busy.extend([now - self._since] + [0.0] * (complaints - 1))
                self._since = now


class BodyLimit:
    """Request bodies over `limit` bytes are refused with 413 naming the limit: at once when Content-Length says
    so (nothing is read), otherwise as soon as the bytes read pass it (a chunked body) — before anything parses
    them. FastAPI's own `max_body_size` does the same but answers a too-large Content-Length with a plain-text
    "Content Too Large" that names no limit, and no middleware of ours can replace that answer."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit
        mib = f" ({limit / 2**20:g} MiB)" if limit >= 2**20 else ""
        self.detail = (f"the request body is larger than the limit of {limit:,} bytes{mib}; send fewer or shorter "
                       "complaints per request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": self.detail}, status_code=413)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self.detail)  # FastAPI's body reading re-raises it: a 413 answer
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except HTTPException as exc:  # read outside a route's body parsing
            if exc.status_code != 413 or started:
                raise
            await JSONResponse({"detail": self.detail}, status_code=413)(scope, receive, send)
