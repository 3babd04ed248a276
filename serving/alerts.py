"""Group alerts delivered: the webhook's body and signature, and the worker that sends the outbox.

An alert's delivery is written to the store's outbox in the transaction that raises the alert (`Intake`), so an
alert is never lost between the decision and the send. This worker sends what is due, oldest first: a 2xx marks
it delivered (never sent again); anything else — an error status, a refused connection, a timeout — is retried
after 2^(n-1) × `alert_webhook_retry_seconds` (capped at `alert_webhook_max_retry_seconds`), forever: an alert
waits for a receiver that is down rather than being dropped. A process that dies while sending leaves the
message claimed for `timeout + LEASE_MARGIN` seconds, then it is sent again; at start-up every pending message is
tried at once, whatever its backoff said. The receiver tells a repeat by the `Idempotency-Key` header (the alert
id), the one thing identical across attempts.

    POST <alert_webhook_url>
    Content-Type: application/json
    Idempotency-Key: G000012-emerging-3f9c1a2b
    X-Triage-Event: group_alert.raised
    X-Triage-Timestamp: 1764470000
    X-Triage-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from serving.logs import get_logger
from serving.store import Store
from serving.store.alerts import ALERT_RAISED
from serving.store.records import OutboxItem
from triage import __version__
from triage.schemas import GroupAlertRaised
from triage.service import GroupChange

log = get_logger("serving.alerts")

SIGNATURE_HEADER = "X-Triage-Signature"
TIMESTAMP_HEADER = "X-Triage-Timestamp"
EVENT_HEADER = "X-Triage-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
LEASE_MARGIN = 30.0  # seconds beyond the request timeout a claimed message waits before another attempt
MEMBERS_SENT = 500  # complaint ids in one body at most (the count is always whole)
BATCH = 20  # messages read per look at the outbox


def alert_body(alert_id: str, alert: GroupAlertRaised, changes: list[GroupChange]) -> dict:
    """The webhook's JSON body: what the alert is and what it set in motion. Complaint ids, never texts or
    customer ids (the terms come from the masked texts)."""
    escalations = sorted({e.target for change in changes for e in change.decision.escalations
                          if change.decision.group.alert is not None})
    return {
        "event": ALERT_RAISED,
        "alert_id": alert_id,
        "cluster_id": alert.cluster_id,
        "level": alert.level,
        "previous_level": alert.previous_level,
        "regrown": alert.regrown,
        "raised_at": alert.raised_at.isoformat(),
        "distinct_customers": alert.distinct_customers,
        "complaints": len(alert.members),
        "terms": alert.terms,
        "trigger_complaint_id": alert.trigger,
        "escalated_complaints": [change.complaint_id for change in changes][:MEMBERS_SENT],
        "escalations": escalations,
        "members": alert.members[:MEMBERS_SENT],
        "cluster_page": f"/clusters/{alert.cluster_id}",
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over "<timestamp>.<body>" (the timestamp is signed too, so a
    receiver that refuses old timestamps refuses replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance_seconds: float = 300.0,
           now: float | None = None) -> bool:
    """What a receiver checks (the README shows the same in a few lines): the signature, and a fresh timestamp."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_seconds and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None  # None: no answer (refused, timed out)
    error: str


class WebhookSender:
    """One POST per attempt, signed afresh (a new timestamp each time)."""

    def __init__(self, url: str, secret: str, timeout: float):
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                    headers={"User-Agent": f"complaint-triage/{__version__}"})

    def send(self, item: OutboxItem) -> Attempt:
        body = json.dumps(item.payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: item.alert_id, EVENT_HEADER: item.event,
                   TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(self.secret, timestamp, body)}
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return Attempt(True, response.status_code, "")
        return Attempt(False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")

    def close(self) -> None:
        self._client.close()


class OutboxWorker:
    """A background thread that sends the outbox. `wake()` after a commit that wrote to it: the alert goes out
    at once; otherwise it looks every `poll_seconds`, and when a retry is due."""

    def __init__(self, store: Store, sender: WebhookSender, retry_seconds: float, max_retry_seconds: float,
                 on_attempt: Callable[[Attempt], None] | None = None, poll_seconds: float = 5.0):
        self.store = store
        self.sender = sender
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.on_attempt = on_attempt
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-outbox", daemon=True)

    def start(self) -> None:
        """Send what is pending — at once, whatever its backoff said — then what comes."""
        pending = self.store.deliver_pending_now()
        if pending:
            log.info("alert outbox: pending deliveries sent again at start", pending=pending)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self.sender.close()

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones: doubling, capped."""
        return min(self.max_retry_seconds, self.retry_seconds * 2 ** max(attempts - 1, 0))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
                wait = self._until_next()
            except Exception:  # the database went away for a moment: look again later
                log.exception("alert outbox not sent")
                wait = self.poll_seconds
            self._wake.wait(wait)
            self._wake.clear()

    def _until_next(self) -> float:
        due = self.store.next_delivery_at()
        if due is None:
            return self.poll_seconds
        return min(max((due - datetime.now(UTC)).total_seconds(), 0.01), self.poll_seconds)

    def send_due(self) -> int:
        """Send every message due now; returns how many were delivered."""
        delivered = 0
        while not self._stop.is_set():
            due = self.store.due_deliveries(datetime.now(UTC), BATCH)
            if not due:
                return delivered
            for item in due:
                if self._stop.is_set():
                    break
                lease = datetime.now(UTC) + timedelta(seconds=self.sender.timeout + LEASE_MARGIN)
                if not self.store.claim_delivery(item, lease):
                    continue  # another worker has it
                attempt = self.sender.send(item)
                attempts = item.attempts + 1
                if attempt.ok:
                    self.store.delivery_succeeded(item.id, attempt.status or 200)
                    delivered += 1
                    log.info("alert delivered", alert_id=item.alert_id, status=attempt.status, attempts=attempts)
                else:
                    retry = datetime.now(UTC) + timedelta(seconds=self.backoff(attempts))
                    self.store.delivery_failed(item.id, attempt.status, attempt.error, retry)
                    log.warning("alert delivery failed", alert_id=item.alert_id, status=attempt.status,
                                attempts=attempts, retry_in_s=round(self.backoff(attempts), 2))
                if self.on_attempt is not None:
                    self.on_attempt(attempt)
        return delivered
