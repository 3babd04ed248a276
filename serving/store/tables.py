"""The store's tables. Every time is kept in UTC; the policy's zone is applied when shown."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware (UTC) datetimes out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; localise it first")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart in lists
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PageSession(Base):
    """A signed-in review-page session. The cookie carries a random token; only its hash is kept, so a copy
    of the database opens no session. Deleted at logout, when its key is revoked, or once expired."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)  # the key it was opened with
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Complaint(Base):
    """One accepted complaint, as submitted, plus its current routing (the latest decision, or the lead's
    correction) so the queue and the monthly figures are one indexed query."""

    __tablename__ = "complaints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # the row's key
    # The one order of every worker and instance: numbered 1, 2, 3 … under the store's global-order lock, in the
    # order the similarity layer saw the complaints (a replica catches up by reading the numbers above its last).
    global_seq: Mapped[int] = mapped_column(BigInteger, index=True, unique=True)
    complaint_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    product: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Masked (serving.privacy): what the pages, the exports and a rebuilt similarity window read. The text as
    # submitted is only in `original`, sealed (Fernet); NULL in rows stored before 0004 until the store seals them.
    text: Mapped[str] = mapped_column(Text)
    original: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))  # idempotency: same id, same content
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True, index=True)

    category: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(8))
    department: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    is_repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    cluster_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    group_alert: Mapped[str | None] = mapped_column(String(16), nullable=True)
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_complaints_queue", "needs_review", "reviewed_at"),)


class DecisionRecord(Base):
    """Every decision ever made for a complaint (the audit trail): what was decided, by which model and
    policy, which rules fired, with which scores."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaints.seq"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_version: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(8))
    department: Mapped[str] = mapped_column(String(64))
    rules: Mapped[list] = mapped_column(JSON)
    payload: Mapped[dict] = mapped_column(JSON)  # the whole Decision, as the API returned it
    topic_vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32, for rebuilds
    # Why a decision after the first was made: "group alert G000012", "group alert G000012 dismissed".
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaints.seq"), index=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))  # confirm | correct
    category: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(8))
    department: Mapped[str] = mapped_column(String(64))
    previous_category: Mapped[str] = mapped_column(String(32))
    previous_tier: Mapped[str] = mapped_column(String(8))
    previous_department: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupAlertRecord(Base):
    """A group alert as it was raised (`triage.schemas.GroupAlertRaised`), and what a lead made of it: open until
    confirmed or dismissed (each review is in `alert_reviews`)."""

    __tablename__ = "group_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(64), unique=True)  # the webhook's idempotency key
    cluster_id: Mapped[str] = mapped_column(String(32), index=True)
    level: Mapped[str] = mapped_column(String(16))  # emerging | major
    previous_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    regrown: Mapped[bool] = mapped_column(Boolean, default=False)
    distinct_customers: Mapped[int] = mapped_column(Integer)
    complaints: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[int] = mapped_column(Integer)  # earlier complaints it escalated
    terms: Mapped[list] = mapped_column(JSON)
    members: Mapped[list] = mapped_column(JSON)  # complaint ids when raised
    trigger_complaint_id: Mapped[str] = mapped_column(String(128))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the trigger's received_at
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | confirmed | dismissed


class AlertReview(Base):
    """A lead's confirmation or dismissal of a group alert. A dismissal keeps the cluster's customers of the
    moment (the similarity window, rebuilt, is told again after the complaint `after_seq`)."""

    __tablename__ = "alert_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("group_alerts.alert_id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # confirm | dismiss
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    customers: Mapped[list | None] = mapped_column(JSON, nullable=True)  # a dismissal's: the cluster's customers
    after_seq: Mapped[int] = mapped_column(Integer)  # the last complaint in the store's order when it was made
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A webhook delivery, written in the transaction that raised its alert; sent by `serving.alerts` until a 2xx,
    retried with capped exponential backoff, across restarts."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("group_alerts.alert_id"), index=True)  # idempotency key
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)  # also a claim's lease while it is being sent
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # HTTP status of the last attempt
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_alert_outbox_due", "delivered_at", "next_attempt_at"),)


class ClusterRecord(Base):
    """The latest summary of every group cluster that alerted; the live window is in the similarity engine."""

    __tablename__ = "clusters"

    cluster_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert: Mapped[str | None] = mapped_column(String(16), nullable=True)
    first_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    distinct_customers: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[dict] = mapped_column(JSON)


class MatterCorrectionRecord(Base):
    """A lead's split or join of a customer's matters (issue 17): who, when, which complaints they named and
    what moved. Replayed into the similarity window after the complaint `after_seq` when it is rebuilt."""

    __tablename__ = "matter_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(8))  # split | join
    complaint_ids: Mapped[list] = mapped_column(JSON)  # as the lead named them
    moved: Mapped[dict] = mapped_column(JSON)  # {complaint id: its matter after the correction}
    after_seq: Mapped[int] = mapped_column(Integer)  # the last complaint stored when it was made
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OriginalRead(Base):
    """Who read a complaint's original (unmasked) text, and when: every read through the admin endpoint."""

    __tablename__ = "original_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaints.seq"), index=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    reader: Mapped[str] = mapped_column(String(200))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
