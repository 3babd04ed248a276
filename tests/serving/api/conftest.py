"""Helpers for the API tests (module-local: the shared fixtures — `client`, `headers`, `api_keys`,
`service_settings`, `database_url` — stay in tests/conftest.py).

No mocks: the complaints that need review are texts the real session model flags (mostly English text gets a
`language` reason, a very short one a `low_confidence` one, distress a rule that always asks for review);
every test checks `needs_review` in the response before it relies on it.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

TIER_RANK = {"red": 0, "yellow": 1, "green": 2}


class Texts:
    """Complaint texts and what the session model makes of them (checked where a test relies on it)."""

    # flagged for review
    ENGLISH = "My credit card was charged twice for the same purchase, please refund me as soon as possible."
    ENGLISH_APP = "I cannot log in to the mobile banking app, it keeps crashing. 请处理"
    ENGLISH_FRAUD = "Someone stole 50000 yuan from my account via fraud, I will report to the police"
    DISTRESS = "我真的不想活了，银行把我的钱全扣光了，活不下去了"  # red (R-DISTRESS asks for review)
    DISTRESS_MIXED = "I want to die, the bank took all my money, 不想活了"
    TERSE = "嗯"
    TERSE_2 = "投诉"
    # confident, not flagged
    APP_FAILURE = "手机银行APP转账一直失败，提示系统繁忙"
    COLLECTION = "你们的催收人员天天打电话骚扰我的家人和同事，还威胁要上门，严重影响我的生活"
    FEE = "贵行信用卡中心本月起擅自将年费从200元上调到600元，事先没有任何通知，请立即退还多收的年费"
    FEE_AGAIN = "我上个月投诉过的信用卡年费问题到现在还没有处理，贵行擅自上调年费600元，请尽快退还"


class Api:
    """A thin layer over the TestClient: requests as a role, and the checks every test repeats."""

    texts = Texts

    def __init__(self, client: TestClient, headers: dict[str, dict[str, str]]):
        self.client = client
        self.headers = headers
        self._ids = itertools.count(1)

    # ---- requests ----------------------------------------------------------------------------------
    def auth(self, role: str | None) -> dict[str, str]:
        return {} if role is None else self.headers[role]

    def request(self, method: str, path: str, role: str | None = "lead", **kwargs: Any) -> Response:
        headers = {**self.auth(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, role: str | None = "lead", **params: Any) -> Response:
        return self.request("GET", path, role, params=params or None)

    def post(self, path: str, body: Any = None, role: str | None = "lead", **kwargs: Any) -> Response:
        return self.request("POST", path, role, json=body, **kwargs)

    def post_raw(self, path: str, content: str | bytes, role: str | None = "intake") -> Response:
        return self.request("POST", path, role, content=content, headers={"Content-Type": "application/json"})

    # ---- complaints ----------------------------------------------------------------------------------
    def complaint(self, text: str = Texts.APP_FAILURE, **fields: Any) -> dict[str, Any]:
        """A valid complaint body; `customer_id` defaults to a fresh one so that nothing is a repeat."""
        fields.setdefault("customer_id", f"CUST-{next(self._ids):04d}")
        return {"text": text, **{k: v for k, v in fields.items() if v is not None}}

    def submit(self, text: str = Texts.APP_FAILURE, role: str = "intake", expect: int = 201,
               **fields: Any) -> dict[str, Any]:
        """POST /v1/complaints and return the decision; fails the test on another status."""
        response = self.post("/v1/complaints", self.complaint(text, **fields), role=role)
        assert response.status_code == expect, response.text
        return response.json()

    def submit_flagged(self, text: str, **fields: Any) -> dict[str, Any]:
        """A complaint the real model sends to review (the test data's premise, checked here)."""
        decision = self.submit(text, **fields)
        assert decision["needs_review"], f"the model no longer flags {text!r}: {decision['review_reasons']}"
        assert decision["review_reasons"]
        return decision

    def record(self, complaint_id: str, role: str = "lead") -> dict[str, Any]:
        response = self.get(f"/v1/complaints/{complaint_id}", role)
        assert response.status_code == 200, response.text
        return response.json()

    def queue(self, **params: Any) -> dict[str, Any]:
        response = self.get("/v1/review", "lead", **params)
        assert response.status_code == 200, response.text
        return response.json()

    def queue_ids(self, **params: Any) -> list[str]:
        return [item["complaint_id"] for item in self.queue(limit=200, **params)["items"]]

    def new_key(self, role: str, name: str | None = None) -> tuple[int, str]:
        """A fresh key made through the admin API: (id, secret)."""
        response = self.post("/v1/admin/keys", {"name": name or f"another {role}", "role": role}, role="admin")
        assert response.status_code == 201, response.text
        return response.json()["id"], response.json()["key"]

    @property
    def runtime(self):
        return self.client.app.state.runtime  # type: ignore[attr-defined]


def queue_order(decisions: list[dict[str, Any]]) -> list[str]:
    """The queue's documented order over submitted decisions: needs review, red first, then the least
    confident, then the oldest (submission order breaks the remaining ties, as the arrival number does)."""
    flagged = [(i, d) for i, d in enumerate(decisions) if d["needs_review"]]
    flagged.sort(key=lambda pair: (TIER_RANK[pair[1]["tier"]["label"]], pair[1]["category_confidence"],
                                   datetime.fromisoformat(pair[1]["received_at"]), pair[0]))
    return [d["complaint_id"] for _, d in flagged]


@pytest.fixture
def api(client, headers) -> Api:
    return Api(client, headers)


@pytest.fixture
def make_api(headers):
    """An Api over a client a test starts itself (another configuration, a restart)."""
    return lambda client: Api(client, headers)


@pytest.fixture
def expected_queue():
    return queue_order


@pytest.fixture
def app_log(client) -> Iterator[io.StringIO]:
    """What the app's log handler writes, formatted (and scrubbed) by the app's own formatter.

    caplog keeps the raw records, before the formatter scrubs them, and the handler that `configure_logging`
    installs holds the stderr of the moment; a second handler with the same formatter sees exactly the lines
    the service writes."""
    root = logging.getLogger()
    formatters = [h.formatter for h in root.handlers if type(h.formatter).__name__ == "ProcessorFormatter"]
    assert formatters, "the app's JSON log handler is not installed on the root logger"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatters[0])
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
