"""Backpressure, probes and the body limit, deterministically: the bounds are set small and a request is held
inside the service (the intake's lock taken by the test) instead of relying on timing under load.

- past `max_in_flight` requests, 429 with Retry-After at once; the probes still answer, even with the request
  thread pool exhausted (they are answered on the event loop);
- past `intake_queue` complaints waiting to be decided, 429 with Retry-After (single and batch requests);
- without a model, 503 with Retry-After;
- a body over `max_body_bytes` is 413 naming the limit, by its Content-Length or while a chunked body is read,
  before any JSON parsing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.model_source import LoadedModel

APP_TEXT = "手机银行APP转账一直失败，提示系统繁忙"


@contextmanager
def served(service_settings, trained_model, **changes: Any) -> Iterator[TestClient]:
    settings = service_settings.model_copy(update=changes)
    app = create_app(settings, model=LoadedModel(trained_model, "test session model"))
    with TestClient(app) as client:
        yield client


def metric(client: TestClient, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", client.get("/metrics").text, flags=re.MULTILINE)
    assert found, name
    return float(found.group(1))


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the held requests never arrived"
        time.sleep(0.02)


@contextmanager
def intake_held(client: TestClient) -> Iterator[None]:
    """Complaints are taken in but not decided while this holds the intake's lock (the one every decision is
    stored under): their requests stay in flight."""
    lock = client.app.state.runtime.intake._lock  # type: ignore[attr-defined]
    with lock:
        yield


def in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def post_complaint(client: TestClient, headers: dict, customer: str) -> httpx.Response:
    return client.post("/v1/complaints", json={"text": APP_TEXT, "customer_id": customer}, headers=headers["intake"])


def assert_busy(response: httpx.Response, words: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "1"
    assert words in response.json()["detail"]


# ---- requests in flight ------------------------------------------------------------------------------------
def test_past_the_in_flight_bound_a_request_is_answered_429_at_once_and_the_probes_still_answer(
        service_settings, trained_model, headers):
    with served(service_settings, trained_model, max_in_flight=1) as client:
        with intake_held(client):
            held, answers = in_thread(lambda: post_complaint(client, headers, "U-held"))
            # In flight, and inside its handler on a worker thread (admitted to the intake queue).
            wait_for(lambda: metric(client, "triage_requests_in_flight") == 1)
            wait_for(lambda: metric(client, "triage_intake_waiting_complaints") == 1)
            started = time.perf_counter()
            assert_busy(post_complaint(client, headers, "U-second"), "limit of 1 requests at once")
            assert_busy(client.get("/v1/review", headers=headers["lead"]), "limit of 1 requests at once")
            assert time.perf_counter() - started < 5  # refused, not queued behind the held one
            # The request thread pool shrunk to the one thread the held request occupies: the probes need none.
            client.portal.call(lambda: setattr(anyio.to_thread.current_default_thread_limiter(), "total_tokens", 1))
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/readyz").json()["status"] == "ready"
            client.portal.call(lambda: setattr(anyio.to_thread.current_default_thread_limiter(), "total_tokens", 40))
            assert not answers  # still held
        held.join(timeout=60)
        assert answers and answers[0].status_code == 201, answers
        assert post_complaint(client, headers, "U-after").status_code == 201  # the bound is free again
        shed = re.search(r'^triage_requests_shed_total\{bound="in_flight"\} (\S+)$', client.get("/metrics").text,
                         flags=re.MULTILINE)
        assert shed and float(shed.group(1)) == 2


# ---- complaints waiting to be decided ----------------------------------------------------------------------
def test_past_the_intake_queue_bound_single_and_batch_requests_are_answered_429(
        service_settings, trained_model, headers):
    with served(service_settings, trained_model, intake_queue=2) as client:
        with intake_held(client):
            held = [in_thread(lambda i=i: post_complaint(client, headers, f"U-wait-{i}")) for i in range(2)]
            wait_for(lambda: metric(client, "triage_intake_waiting_complaints") == 2)
            assert_busy(post_complaint(client, headers, "U-third"), "1 more would exceed the intake's limit of 2")
            batch = client.post("/v1/complaints/batch", json={"complaints": [{"text": APP_TEXT}]},
                                headers=headers["intake"])
            assert_busy(batch, "2 complaints are waiting to be decided")
        for thread, answers in held:
            thread.join(timeout=60)
            assert answers and answers[0].status_code == 201, answers
        assert metric(client, "triage_intake_waiting_complaints") == 0
        # Nothing waits: a batch larger than the bound is still served whole.
        batch = client.post("/v1/complaints/batch", json={"complaints": [{"text": APP_TEXT}] * 3},
                            headers=headers["intake"])
        assert batch.status_code == 200 and batch.json()["accepted"] == 3, batch.text


def test_without_a_model_decisions_are_503_with_retry_after(service_settings, headers, tmp_path):
    settings = service_settings.model_copy(update={"model_dir": tmp_path / "no-model", "retry_after_seconds": 5})
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/complaints", json={"text": APP_TEXT}, headers=headers["intake"])
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"


# ---- the body limit ----------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_naming_it_by_content_length_or_while_read(
        service_settings, trained_model, headers):
    with served(service_settings, trained_model, max_body_bytes=4096) as client:
        small = client.post("/v1/complaints", json={"text": APP_TEXT}, headers=headers["intake"])
        assert small.status_code == 201, small.text

        big = json.dumps({"text": "长" * 2000}, ensure_ascii=False).encode()  # 6 kB of UTF-8
        by_length = client.post("/v1/complaints", content=big,
                                headers={**headers["intake"], "Content-Type": "application/json"})
        assert by_length.status_code == 413
        assert "4,096 bytes" in by_length.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is found while reading
            for start in range(0, len(big), 1000):
                yield big[start:start + 1000]

        chunked = client.post("/v1/complaints", content=chunks(),
                              headers={**headers["intake"], "Content-Type": "application/json"})
        assert chunked.status_code == 413 and "4,096 bytes" in chunked.json()["detail"]

        # Refused before parsing: a large body that is not even JSON is 413, not 422.
        garbage = client.post("/v1/complaints/batch", content=b"{" * 5000,
                              headers={**headers["intake"], "Content-Type": "application/json"})
        assert garbage.status_code == 413, garbage.text


def test_the_default_body_limit_refuses_a_30_mb_batch_at_once(client, headers):
    body = json.dumps({"complaints": [{"text": "长" * 20_000}] * 500}, ensure_ascii=False).encode()
    assert len(body) > 29_000_000
    started = time.perf_counter()
    response = client.post("/v1/complaints/batch", content=body,
                           headers={**headers["intake"], "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "8,388,608 bytes (8 MiB)" in response.json()["detail"]
    assert time.perf_counter() - started < 10  # was 43 s of deciding
    # Under the limit, the routes' own 413s keep their words.
    batch = client.post("/v1/complaints/batch", json={"complaints": [{"text": "x"}] * 600}, headers=headers["intake"])
    assert batch.status_code == 413 and "at most 500" in batch.json()["detail"]
