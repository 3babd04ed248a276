"""Group alerts that act on the whole group and reach people: when a cluster alerts, the complaints already in it
are escalated (a new decision each, with its reason, in their history); the alert is posted to a webhook from a
durable outbox — retried after the receiver fails and after a restart, signed with the shared secret, never sent
again after a 2xx; a lead confirms or dismisses it, and a dismissed cluster alerts again only when it grows.

The receiver is a local http.server on loopback (no network). The model is the session's real one."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi.testclient import TestClient
from pydantic import SecretStr

from serving.app import create_app
from serving.model_source import LoadedModel

SECRET = "test-webhook-secret-0123456789"
PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]


@dataclass
class Receiver:
    """A webhook receiver on loopback: answers each alert's deliveries with the statuses of `script` in turn (then
    200), and keeps what came."""

    script: list[int] = field(default_factory=list)
    received: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)  # (answered, headers, body)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        tried = sum(1 for _, h, _ in self.received if h["Idempotency-Key"] == headers["Idempotency-Key"])
        status = self.script[tried] if tried < len(self.script) else 200
        self.received.append((status, headers, body))
        return status

    def of(self, alert_id: str) -> list[tuple[int, dict[str, str], bytes]]:
        return [r for r in self.received if r[1]["Idempotency-Key"] == alert_id]

    def delivered(self, alert_id: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for status, headers, body in self.of(alert_id) if 200 <= status < 300]

    def wait_for(self, condition, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            got = [(status, headers.get("Idempotency-Key")) for status, headers, _ in self.received]
            assert time.monotonic() < deadline, f"the receiver got {got}"
            time.sleep(0.02)


@contextmanager
def receiver(script: list[int] | None = None) -> Iterator[Receiver]:
    state = Receiver(list(script or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/triage"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(settings, trained_model) -> Iterator[TestClient]:
    app = create_app(settings, model=LoadedModel(trained_model, "test session model"))
    with TestClient(app) as test_client:
        yield test_client


def webhook_settings(service_settings, url: str, retry_seconds: float = 0.05):
    return service_settings.model_copy(update={
        "alert_webhook_url": url, "alert_webhook_secret": SecretStr(SECRET), "alert_webhook_timeout_seconds": 2.0,
        "alert_webhook_retry_seconds": retry_seconds, "alert_webhook_max_retry_seconds": max(retry_seconds, 0.2)})


def background(api, now: datetime, n: int = 300) -> None:
    """Forty days of ordinary traffic (one customer each, varied matters): what the detector learns is usual."""
    start, span = now - timedelta(days=40), timedelta(days=38)
    complaints = [api.complaint(f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}", customer_id=f"U-BG-{i}",
                                received_at=(start + span * i / n).isoformat()) for i in range(n)]
    response = api.post("/v1/complaints/batch", {"complaints": complaints}, role="intake")
    assert response.status_code == 200 and response.json()["accepted"] == n, response.text


def burst(api, now: datetime, customers: list[str], start_hours: float = 10) -> list[dict]:
    """The same new matter (an annual fee raised without notice) from these customers, half an hour apart."""
    return [api.submit(api.texts.FEE + "。" * i, customer_id=customer, channel="hotline", product="信用卡",
                       complaint_id=f"FEE-{i}-{start_hours:g}h",
                       received_at=(now - timedelta(hours=start_hours - 0.5 * i)).isoformat())
            for i, customer in enumerate(customers)]


def raised(api, cluster_id: str) -> list[dict]:
    """The alerts of this cluster, newest first (the background traffic may raise its own)."""
    return [a for a in api.get("/v1/clusters").json()["raised"] if a["cluster_id"] == cluster_id]


def metric(client: TestClient, name: str, **labels: str) -> float:
    """A sample of /metrics; a labelled counter never incremented has none (0), a gauge always has one."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in response.text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    assert labels, f"no {name} in /metrics: {[m for m in response.text.splitlines() if 'triage_' in m]}"
    return 0.0


def check_signature(headers: dict[str, str], body: bytes) -> None:
    """What a receiver does, written independently of the service's code."""
    timestamp = headers["X-Triage-Timestamp"]
    expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Triage-Signature"], expected)
    assert abs(time.time() - int(timestamp)) < 120
    wrong = "sha256=" + hmac.new(b"another secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Triage-Signature"] != wrong


def test_an_alert_escalates_the_earlier_members_and_reaches_the_webhook_after_it_failed(
        service_settings, api_keys, headers, make_api, trained_model):
    with receiver(script=[500, 503]) as hook, \
            serve(webhook_settings(service_settings, hook.url), trained_model) as client:
        api = make_api(client)
        now = datetime.now(UTC)
        background(api, now)
        members = burst(api, now, [f"U-FEE-{i}" for i in range(6)])
        assert [d["group"]["alert"] for d in members] == [None, None, None, None, "emerging", "emerging"]
        cluster_id = members[-1]["group"]["cluster_id"]
        earlier = [d["complaint_id"] for d in members[:4]]

        # retroactive: every complaint already in the cluster is escalated, with a decision saying why
        for complaint_id, first in zip(earlier, members, strict=False):
            assert first["tier"]["label"] != "red" or "R-GROUP" not in [r["rule"] for r in first["tier"]["reasons"]]
            record = api.record(complaint_id)
            assert (record["tier"], record["group_alert"], record["cluster_id"]) == ("red", "emerging", cluster_id)
            assert [h["reason"] for h in record["history"]] == [f"group alert {cluster_id}", None]
            assert record["history"][0]["tier"] == "red" and "R-GROUP" in record["history"][0]["rules"]
            targets = [e["target"] for e in record["decision"]["escalations"]]
            assert "统一对外发言人" in targets and any(t.startswith("专项工作组") for t in targets)
            assert record["decision"]["group"]["alert"] == "emerging"
            assert record["decision"]["clocks"]["respond_by"] <= first["clocks"]["respond_by"]
        # the complaint that raised it and the one after carry it already: no second decision
        for later in members[4:]:
            record = api.record(later["complaint_id"])
            assert len(record["history"]) == 1 and record["group_alert"] == "emerging"
            assert "统一对外发言人" in [e["target"] for e in record["decision"]["escalations"]]

        # delivered after two failures, signed, one alert id throughout
        [alert] = raised(api, cluster_id)
        alerts_before = metric(client, "triage_group_alerts_total", level="emerging") - 1  # the background's
        hook.wait_for(lambda: hook.delivered(alert["alert_id"]))
        assert [status for status, _, _ in hook.of(alert["alert_id"])] == [500, 503, 200]
        [(sent_headers, body)] = hook.delivered(alert["alert_id"])
        check_signature(sent_headers, body)
        assert sent_headers["X-Triage-Event"] == "group_alert.raised"
        payload = json.loads(body)
        assert (payload["alert_id"], payload["cluster_id"], payload["level"]) == (alert["alert_id"], cluster_id,
                                                                                  "emerging")
        assert payload["escalated_complaints"] == earlier and payload["distinct_customers"] == 5
        assert payload["members"] == [d["complaint_id"] for d in members[:5]]
        assert "统一对外发言人" in payload["escalations"]
        assert "U-FEE" not in body.decode() and api.texts.FEE not in body.decode()  # ids only, no texts

        time.sleep(0.5)  # never again after a 2xx
        assert len(hook.of(alert["alert_id"])) == 3
        [alert] = raised(api, cluster_id)
        assert alert["status"] == "open" and alert["escalated"] == 4
        assert alert["delivery"]["attempts"] == 3 and alert["delivery"]["last_status"] == 200
        assert alert["delivery"]["delivered_at"] is not None and alert["delivery"]["next_attempt_at"] is None
        every = api.get("/v1/clusters").json()["raised"]
        hook.wait_for(lambda: all(hook.delivered(a["alert_id"]) for a in every))
        time.sleep(0.3)
        assert alerts_before >= 0 and metric(client, "triage_group_alerts_total", level="emerging") == \
            sum(a["level"] == "emerging" for a in every)
        assert metric(client, "triage_webhook_deliveries_total", outcome="failed") == 2 * len(every)
        assert metric(client, "triage_webhook_deliveries_total", outcome="ok") == len(every)
        assert metric(client, "triage_alert_outbox_pending") == 0


def test_an_alert_pending_at_shutdown_is_delivered_after_the_restart(service_settings, api_keys, headers, make_api,
                                                                      trained_model):
    with receiver(script=[503]) as hook:
        settings = webhook_settings(service_settings, hook.url, retry_seconds=600)  # no retry before the stop
        with serve(settings, trained_model) as client:
            api = make_api(client)
            now = datetime.now(UTC)
            background(api, now)
            members = burst(api, now, [f"U-FEE-{i}" for i in range(5)])
            [alert] = raised(api, members[-1]["group"]["cluster_id"])
            hook.wait_for(lambda: len(hook.of(alert["alert_id"])) == 1)
            every = api.get("/v1/clusters").json()["raised"]
            hook.wait_for(lambda: all(hook.of(a["alert_id"]) for a in every))
            assert metric(client, "triage_alert_outbox_pending") == len(every)
            [alert] = raised(api, alert["cluster_id"])
            assert alert["delivery"]["delivered_at"] is None and alert["delivery"]["last_status"] == 503
        assert not any(hook.delivered(a["alert_id"]) for a in every)

        with serve(settings, trained_model) as client:  # the same store: the pending deliveries go out at start
            hook.wait_for(lambda: all(hook.delivered(a["alert_id"]) for a in every))
            [(sent_headers, body)] = hook.delivered(alert["alert_id"])
            assert sent_headers["Idempotency-Key"] == alert["alert_id"] == json.loads(body)["alert_id"]
            check_signature(sent_headers, body)
            time.sleep(0.3)
            assert len(hook.of(alert["alert_id"])) == 2
            assert metric(client, "triage_alert_outbox_pending") == 0
            after = make_api(client).get("/v1/clusters").json()["raised"]
            assert {a["alert_id"] for a in after} == {a["alert_id"] for a in every}  # nothing raised again
            assert all(a["delivery"]["last_status"] == 200 and a["delivery"]["attempts"] == 2 for a in after)


def test_a_dismissed_cluster_does_not_alert_again_until_it_grows(api):
    now = datetime.now(UTC)
    background(api, now)
    members = burst(api, now, [f"U-FEE-{i}" for i in range(6)])
    cluster_id = members[-1]["group"]["cluster_id"]
    [alert] = raised(api, cluster_id)
    assert alert["delivery"] is None  # no webhook configured: stored and shown, not sent

    assert api.post(f"/v1/alerts/{alert['alert_id']}", {"action": "dismiss"}, role=None).status_code == 401
    assert api.post(f"/v1/alerts/{alert['alert_id']}", {"action": "dismiss"}, role="intake").status_code == 403
    assert api.post("/v1/alerts/G000999-emerging-00000000", {"action": "dismiss"}).status_code == 404
    assert api.post(f"/v1/alerts/{alert['alert_id']}", {"action": "ignore"}).status_code == 422
    dismissed = api.post(f"/v1/alerts/{alert['alert_id']}", {"action": "dismiss", "comment": "两件不同的事"})
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["status"] == "dismissed"
    assert [(r["action"], r["comment"]) for r in dismissed.json()["reviews"]] == [("dismiss", "两件不同的事")]
    again = api.post(f"/v1/alerts/{alert['alert_id']}", {"action": "confirm"})
    assert again.status_code == 409 and "already dismissed" in again.json()["detail"]

    # what the alert added is taken back from every member, each with a decision saying why
    for decision in members:
        record = api.record(decision["complaint_id"])
        assert record["history"][0]["reason"] == f"group alert {cluster_id} dismissed"
        assert record["group_alert"] is None and record["decision"]["group"]["alert"] is None
        assert "统一对外发言人" not in [e["target"] for e in record["decision"]["escalations"]]
        assert "R-GROUP" not in record["history"][0]["rules"]

    # two new customers and two old ones: the same cluster, no alert
    quiet = burst(api, now, ["U-FEE-1", "U-NEW-1", "U-FEE-2", "U-NEW-2"], start_hours=6)
    assert {d["group"]["cluster_id"] for d in quiet} == {cluster_id}
    assert all(d["group"]["alert"] is None for d in quiet)
    assert len(raised(api, cluster_id)) == 1

    # the third new customer: grown by half (3 of 6): it alerts again, and escalates all its complaints again
    [grown] = burst(api, now, ["U-NEW-3"], start_hours=3)
    assert grown["group"]["alert"] == "emerging"
    alerts = raised(api, cluster_id)
    assert [(a["status"], a["regrown"]) for a in alerts] == [("open", True), ("dismissed", False)]
    assert alerts[0]["escalated"] == len(members) + len(quiet)
    for decision in [*members, *quiet]:
        record = api.record(decision["complaint_id"])
        assert record["history"][0]["reason"] == f"group alert {cluster_id}"
        assert record["group_alert"] == "emerging" and record["tier"] == "red"

    confirmed = api.post(f"/v1/alerts/{alerts[0]['alert_id']}", {"action": "confirm"})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
