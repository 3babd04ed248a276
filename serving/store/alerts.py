"""Group alerts in the store: an alert with what it changed in the complaints already in its cluster (a new decision
each, with its reason, and their routing) and its webhook delivery, all in one transaction; the leads'
confirmations and dismissals; the outbox the delivery worker (`serving/alerts.py`) reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from serving.store.base import StoreBase
from serving.store.complaints import _decision_record, _routing
from serving.store.records import (
    AlertRecord,
    AlertReviewRecord,
    DeliveryRecord,
    DismissalEntry,
    OutboxItem,
    Principal,
)
from serving.store.tables import (
    AlertReview,
    Complaint,
    DecisionRecord,
    GroupAlertRecord,
    OutboxMessage,
    utcnow,
)
from triage.schemas import Decision, GroupAlertRaised
from triage.service import GroupChange
from triage.vocabulary import TIER_ORDER

ALERT_RAISED = "group_alert.raised"
ERROR_CHARS = 500  # of a failed delivery's error kept


class AlertAlreadyReviewed(Exception):
    """A lead already confirmed or dismissed this alert."""


def new_alert_id(alert: GroupAlertRaised) -> str:
    """<cluster>-<level>-<8 hex>: readable, and unique even when a rebuilt window numbers clusters anew."""
    return f"{alert.cluster_id}-{alert.level}-{uuid.uuid4().hex[:8]}"


class AlertStore(StoreBase):
    # ---- raising -----------------------------------------------------------------------------------
    def latest_decisions(self, complaint_ids: Iterable[str]) -> dict[str, Decision]:
        """The latest decision of each of these stored complaints (what a group alert acts on)."""
        wanted = list(dict.fromkeys(complaint_ids))
        if not wanted:
            return {}
        with self.session() as session:
            latest = (select(func.max(DecisionRecord.id)).join(Complaint, Complaint.seq == DecisionRecord.complaint_seq)
                      .where(Complaint.complaint_id.in_(wanted)).group_by(DecisionRecord.complaint_seq))
            rows = session.execute(select(Complaint.complaint_id, DecisionRecord.payload)
                                   .join(DecisionRecord, DecisionRecord.complaint_seq == Complaint.seq)
                                   .where(DecisionRecord.id.in_(latest)))
            return {complaint_id: Decision.model_validate(payload) for complaint_id, payload in rows}

    def record_alert(self, alert_id: str, alert: GroupAlertRaised, changes: list[GroupChange],
                     webhook_payload: dict | None) -> AlertRecord:
        """Store a raised alert, the new decisions of the complaints it escalated (their routing follows), and —
        when a webhook is configured — its delivery in the outbox: one transaction (the caller's, inside
        `ordered()`, so it commits with the complaint that raised it)."""
        with self.session() as session:
            record = GroupAlertRecord(
                alert_id=alert_id, cluster_id=alert.cluster_id, level=alert.level, previous_level=alert.previous_level,
                regrown=alert.regrown, distinct_customers=alert.distinct_customers, complaints=len(alert.members),
                escalated=len(changes), terms=list(alert.terms), members=list(alert.members),
                trigger_complaint_id=alert.trigger, raised_at=alert.raised_at, created_at=utcnow(), status="open")
            session.add(record)
            session.flush()
            _apply(session, changes)
            if webhook_payload is not None:
                session.add(OutboxMessage(alert_id=alert_id, event=ALERT_RAISED, payload=webhook_payload,
                                          created_at=record.created_at, attempts=0,
                                          next_attempt_at=record.created_at))
            session.flush()
            return _alert(session, record)

    # ---- a lead's review ---------------------------------------------------------------------------
    def review_alert(self, alert_id: str, action: str, principal: Principal, comment: str, after_seq: int,
                     customers: list[str] | None = None, changes: Iterable[GroupChange] = ()) -> AlertRecord | None:
        """Record a lead's confirmation or dismissal (with the cluster's customers then, and the decisions it
        took back from its complaints). None for an unknown alert; AlertAlreadyReviewed when it was reviewed."""
        with self.session() as session:
            record = session.scalar(select(GroupAlertRecord).where(GroupAlertRecord.alert_id == alert_id)
                                    .with_for_update())
            if record is None:
                return None
            if record.status != "open":
                last = session.scalar(select(AlertReview).where(AlertReview.alert_id == alert_id)
                                      .order_by(AlertReview.id.desc()).limit(1))
                who = f" by {last.reviewer} at {last.created_at:%Y-%m-%d %H:%M} UTC" if last else ""
                raise AlertAlreadyReviewed(f"alert {alert_id!r} was already {record.status}{who}")
            session.add(AlertReview(alert_id=alert_id, action=action, key_id=principal.key_id,
                                    reviewer=principal.name, comment=self.protector.mask_text(comment) or "",
                                    customers=customers,
                                    after_seq=after_seq, created_at=utcnow()))
            record.status = "confirmed" if action == "confirm" else "dismissed"
            if action == "dismiss":  # the cluster is dismissed: its other open alerts (emerging, then major) with it
                session.execute(update(GroupAlertRecord).where(GroupAlertRecord.cluster_id == record.cluster_id,
                                                               GroupAlertRecord.status == "open")
                                .values(status="dismissed"))
            _apply(session, list(changes))
            session.flush()
            return _alert(session, record)

    def alert_members(self, alert_id: str) -> list[str]:
        """The complaints in the alert's cluster when it was raised."""
        with self.session() as session:
            return list(session.scalar(select(GroupAlertRecord.members)
                                       .where(GroupAlertRecord.alert_id == alert_id)) or [])

    def dismissals_after(self, review_id: int) -> list[DismissalEntry]:
        """Dismissals stored after the review `review_id`, in order (what a rebuilt window is told again)."""
        with self.session() as session:
            rows = session.execute(select(AlertReview, GroupAlertRecord.cluster_id, GroupAlertRecord.members)
                                   .join(GroupAlertRecord, GroupAlertRecord.alert_id == AlertReview.alert_id)
                                   .where(AlertReview.id > review_id, AlertReview.action == "dismiss")
                                   .order_by(AlertReview.id))
            return [DismissalEntry(id=review.id, cluster_id=cluster_id, members=list(members),
                                   customers=list(review.customers or []), after_seq=review.after_seq)
                    for review, cluster_id, members in rows]

    # ---- reading -----------------------------------------------------------------------------------
    def alert(self, alert_id: str) -> AlertRecord | None:
        with self.session() as session:
            record = session.scalar(select(GroupAlertRecord).where(GroupAlertRecord.alert_id == alert_id))
            return None if record is None else _alert(session, record)

    def alerts(self, cluster_id: str | None = None, limit: int = 200) -> list[AlertRecord]:
        """Alerts, newest first (of one cluster, when given)."""
        query = select(GroupAlertRecord).order_by(GroupAlertRecord.id.desc()).limit(limit)
        if cluster_id is not None:
            query = query.where(GroupAlertRecord.cluster_id == cluster_id)
        with self.session() as session:
            return [_alert(session, record) for record in session.scalars(query)]

    # ---- the outbox ----------------------------------------------------------------------------------
    def due_deliveries(self, now: datetime, limit: int = 20) -> list[OutboxItem]:
        """Undelivered webhook messages whose next attempt is due, oldest first."""
        with self.session() as session:
            rows = session.scalars(select(OutboxMessage)
                                   .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= now)
                                   .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
            return [OutboxItem(id=r.id, alert_id=r.alert_id, event=r.event, payload=r.payload, attempts=r.attempts,
                               next_attempt_at=r.next_attempt_at) for r in rows]

    def next_delivery_at(self) -> datetime | None:
        """When the earliest undelivered message is due (None: nothing waits)."""
        with self.session() as session:
            return session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                                  .where(OutboxMessage.delivered_at.is_(None)))

    def claim_delivery(self, item: OutboxItem, lease_until: datetime) -> bool:
        """Take a due message for one attempt: its next attempt moves to `lease_until` (if this process dies while
        sending, another attempt follows then). False when another worker took it first."""
        with self.session() as session:
            claimed = session.execute(update(OutboxMessage)
                                      .where(OutboxMessage.id == item.id, OutboxMessage.delivered_at.is_(None),
                                             OutboxMessage.next_attempt_at == item.next_attempt_at)
                                      .values(next_attempt_at=lease_until, attempts=OutboxMessage.attempts + 1))
            return claimed.rowcount == 1  # type: ignore[attr-defined]

    def delivery_succeeded(self, message_id: int, status: int) -> None:
        with self.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                            .values(delivered_at=utcnow(), last_status=status, last_error=None))

    def delivery_failed(self, message_id: int, status: int | None, error: str, retry_at: datetime) -> None:
        with self.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                            .values(next_attempt_at=retry_at, last_status=status, last_error=error[:ERROR_CHARS]))

    def deliver_pending_now(self) -> int:
        """Make every undelivered message due now (at start-up: the receiver may be back, and the operator who
        restarted should not wait out a backoff); returns how many."""
        now = utcnow()
        with self.session() as session:
            moved = session.execute(update(OutboxMessage)
                                    .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at > now)
                                    .values(next_attempt_at=now))
            return moved.rowcount  # type: ignore[attr-defined]

    def outbox_pending(self) -> int:
        """Webhook messages not delivered yet (a gauge of /metrics)."""
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.delivered_at.is_(None))) or 0


def _apply(session: Session, changes: list[GroupChange]) -> None:
    """Each change becomes the complaint's latest decision, with its reason; the routing follows it — unless a
    lead reviewed the complaint: then the lead's routing stays, raised (never lowered) to an alert's tier."""
    if not changes:
        return
    records = {r.complaint_id: r for r in session.scalars(
        select(Complaint).where(Complaint.complaint_id.in_([c.complaint_id for c in changes])).with_for_update())}
    for change in changes:
        record = records.get(change.complaint_id)
        if record is None:
            continue
        decision = change.decision
        decided = _decision_record(record.seq, decision, None)
        decided.reason = change.reason
        session.add(decided)
        routing = _routing(decision)
        if record.reviewed_at is None:
            for column, value in routing.items():
                setattr(record, column, value)
            continue
        record.cluster_id, record.group_alert = routing["cluster_id"], routing["group_alert"]
        if decision.group.alert is not None and TIER_ORDER[decision.tier.label] > TIER_ORDER[record.tier]:
            record.tier, record.respond_by = decision.tier.label, min(record.respond_by, routing["respond_by"])


def _alert(session: Session, record: GroupAlertRecord) -> AlertRecord:
    reviews = session.scalars(select(AlertReview).where(AlertReview.alert_id == record.alert_id)
                              .order_by(AlertReview.id))
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.alert_id == record.alert_id)
                             .order_by(OutboxMessage.id).limit(1))
    delivery = None if message is None else DeliveryRecord(
        attempts=message.attempts, delivered_at=message.delivered_at,
        next_attempt_at=None if message.delivered_at else message.next_attempt_at,
        last_status=message.last_status, last_error=message.last_error)
    return AlertRecord(
        alert_id=record.alert_id, cluster_id=record.cluster_id, level=record.level,
        previous_level=record.previous_level, regrown=record.regrown, distinct_customers=record.distinct_customers,
        complaints=record.complaints, escalated=record.escalated, terms=list(record.terms),
        trigger_complaint_id=record.trigger_complaint_id, raised_at=record.raised_at, created_at=record.created_at,
        status=record.status, delivery=delivery,
        reviews=[AlertReviewRecord(action=r.action, reviewer=r.reviewer, comment=r.comment, reviewed_at=r.created_at)
                 for r in reviews])
