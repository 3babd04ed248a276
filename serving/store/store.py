"""Store: the one object that reads and writes the database (SQLAlchemy; SQLite or PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import ColumnElement, Engine, and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from serving.store.db import migrate, open_engine
from serving.store.tables import ApiKey, ClusterRecord, Complaint, DecisionRecord, Review, utcnow
from triage.schemas import ComplaintIn, Decision

ROLES = ("intake", "lead", "admin")
KEY_PREFIX = "trk_"
TIER_RANK = {"red": 0, "yellow": 1, "green": 2}
KEY_CACHE_SECONDS = 10.0


class StoreConflict(Exception):
    """The complaint id is taken by a complaint with other content."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id, name and role."""

    key_id: int
    name: str
    role: str


@dataclass(frozen=True)
class NewComplaint:
    """A decided complaint, ready to be stored."""

    complaint: ComplaintIn
    digest: str
    decision: Decision
    vector: np.ndarray | None
    submitted_by: int | None
    alerted_cluster: dict | None = None


@dataclass(frozen=True)
class QueueFilter:
    tier: str | None = None
    category: str | None = None
    department: str | None = None
    min_age_hours: float | None = None
    max_age_hours: float | None = None


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, not passwords: a plain SHA-256 cannot be brute-forced, and lets a
    # request find its key with one indexed lookup (a salted slow hash would need a scan).
    return hashlib.sha256(secret.encode()).hexdigest()


def content_hash(complaint: ComplaintIn) -> str:
    """What "the same complaint" means for an idempotent retry: every submitted field, as submitted."""
    fields = complaint.model_dump(mode="json", exclude={"complaint_id"})
    if complaint.received_at is not None and complaint.received_at.tzinfo is not None:
        fields["received_at"] = complaint.received_at.astimezone(UTC).isoformat()  # one instant, any zone
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Store:
    def __init__(self, url: str, synchronous: str = "FULL"):
        self.url = url
        self.engine: Engine = open_engine(url, synchronous)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._keys: dict[str, tuple[Principal, float]] = {}  # key hash -> (holder, valid until, monotonic)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # ---- API keys ------------------------------------------------------------------------------
    def create_key(self, name: str, role: str) -> tuple[Principal, str]:
        """A new key: its secret is returned once and only its hash is kept."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not name.strip():
            raise ValueError("a key needs a name (who holds it)")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.session() as session:
            key = ApiKey(name=name.strip(), role=role, prefix=secret[:10], key_hash=hash_key(secret))
            session.add(key)
            session.flush()
            return Principal(key.id, key.name, key.role), secret

    def list_keys(self) -> list[dict]:
        with self.session() as session:
            return [{"id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix,
                     "created_at": k.created_at, "revoked_at": k.revoked_at}
                    for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_key(self, key_id: int) -> bool:
        self._keys.clear()
        with self.session() as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                return False
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            return True

    def authenticate(self, secret: str) -> Principal | None:
        """The key's holder, or None for an unknown or revoked key. Known keys are remembered for
        KEY_CACHE_SECONDS (one query less per request); a revocation through this store takes effect at once,
        one made by another process (`triage keys revoke`) within that time."""
        digest = hash_key(secret)
        cached = self._keys.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self.session() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))
            principal = Principal(key.id, key.name, key.role) if key else None
        if principal is not None:
            self._keys[digest] = (principal, time.monotonic() + KEY_CACHE_SECONDS)
        return principal

    def principal(self, key_id: int) -> Principal | None:
        with self.session() as session:
            key = session.get(ApiKey, key_id)
            return Principal(key.id, key.name, key.role) if key and key.revoked_at is None else None

    def has_key(self, role: str) -> bool:
        with self.session() as session:
            return (session.scalar(select(func.count()).select_from(ApiKey).where(
                ApiKey.role == role, ApiKey.revoked_at.is_(None))) or 0) > 0

    # ---- complaints ----------------------------------------------------------------------------
    def taken(self, complaint_ids: list[str]) -> set[str]:
        """Which of these ids are stored (one indexed query for a batch)."""
        if not complaint_ids:
            return set()
        with self.session() as session:
            return set(session.scalars(select(Complaint.complaint_id)
                                      .where(Complaint.complaint_id.in_(set(complaint_ids)))))

    def find(self, complaint_id: str) -> tuple[str, dict] | None:
        """(content hash, latest decision) of a stored complaint, or None."""
        with self.session() as session:
            row = session.execute(
                select(Complaint.content_hash, DecisionRecord.payload)
                .join(DecisionRecord, DecisionRecord.complaint_seq == Complaint.seq)
                .where(Complaint.complaint_id == complaint_id)
                .order_by(DecisionRecord.id.desc()).limit(1)).first()
            return (row[0], row[1]) if row else None

    def add(self, complaint: ComplaintIn, digest: str, decision: Decision, vector: np.ndarray | None,
            submitted_by: int | None, alerted_cluster: dict | None = None) -> int:
        """Commit a complaint with its first decision (and the summary of the cluster it made alert, in the
        same transaction); returns its arrival number. Raises StoreConflict when the id is taken (by
        another process; the caller compares content)."""
        return self.add_many([NewComplaint(complaint, digest, decision, vector, submitted_by, alerted_cluster)])[0]

    def add_many(self, rows: list[NewComplaint]) -> list[int]:
        """Commit complaints with their first decisions in one transaction (one fsync for all: a group commit);
        all or none. Raises StoreConflict when an id is taken."""
        try:
            with self.session() as session:
                records = []
                for row in rows:
                    record = Complaint(
                        complaint_id=row.decision.complaint_id, customer_id=row.complaint.customer_id,
                        channel=row.complaint.channel, product=row.complaint.product, amount=row.complaint.amount,
                        text=row.complaint.text, received_at=row.decision.received_at, content_hash=row.digest,
                        submitted_by=row.submitted_by, **_routing(row.decision))
                    session.add(record)
                    records.append(record)
                session.flush()
                for row, record in zip(rows, records, strict=True):
                    session.add(_decision_record(record.seq, row.decision, row.vector))
                    if row.alerted_cluster is not None:
                        _save_cluster(session, row.alerted_cluster)
                return [record.seq for record in records]
        except IntegrityError as exc:
            raise StoreConflict(", ".join(str(row.decision.complaint_id) for row in rows)) from exc

    def complaint(self, complaint_id: str) -> dict | None:
        """A complaint's record: its current routing, every decision (newest first) and every review."""
        with self.session() as session:
            record = session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id))
            if record is None:
                return None
            decisions = session.scalars(select(DecisionRecord).where(DecisionRecord.complaint_seq == record.seq)
                                        .order_by(DecisionRecord.id.desc())).all()
            reviews = session.scalars(select(Review).where(Review.complaint_seq == record.seq)
                                      .order_by(Review.id)).all()
            return {**_summary(record), "submitted_by": record.submitted_by,
                    "decision": decisions[0].payload,
                    "history": [_history(d) for d in decisions],
                    "reviews": [_review(r) for r in reviews]}

    def customer_complaints(self, customer_id: str, limit: int = 50, offset: int = 0,
                            submitted_by: int | None = None) -> tuple[int, list[dict]]:
        where = [Complaint.customer_id == customer_id]
        if submitted_by is not None:
            where.append(Complaint.submitted_by == submitted_by)
        return self._page(and_(*where), [Complaint.received_at.desc(), Complaint.seq.desc()], limit, offset)

    def _page(self, where, order, limit: int, offset: int) -> tuple[int, list[dict]]:
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(Complaint).where(where)) or 0
            rows = session.scalars(select(Complaint).where(where).order_by(*order).limit(limit).offset(offset))
            return total, [_summary(r) for r in rows]

    # ---- review ----------------------------------------------------------------------------------
    def queue(self, filters: QueueFilter, limit: int = 50, offset: int = 0,
              now: datetime | None = None) -> tuple[int, list[dict]]:
        """Complaints that need review and have none: red first, then the least confident, then oldest."""
        now = now or utcnow()
        where: list[ColumnElement[bool]] = [Complaint.needs_review.is_(True), Complaint.reviewed_at.is_(None)]
        if filters.tier:
            where.append(Complaint.tier == filters.tier)
        if filters.category:
            where.append(Complaint.category == filters.category)
        if filters.department:
            where.append(Complaint.department == filters.department)
        if filters.min_age_hours is not None:
            where.append(Complaint.received_at <= now - timedelta(hours=filters.min_age_hours))
        if filters.max_age_hours is not None:
            where.append(Complaint.received_at >= now - timedelta(hours=filters.max_age_hours))
        rank = case(*[(Complaint.tier == t, r) for t, r in TIER_RANK.items()], else_=3)
        return self._page(and_(*where), [rank, Complaint.confidence, Complaint.received_at, Complaint.seq],
                          limit, offset)

    def queue_length(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(Complaint).where(
                Complaint.needs_review.is_(True), Complaint.reviewed_at.is_(None))) or 0

    def review(self, complaint_id: str, principal: Principal, action: str, category: str | None,
               tier: str | None, department: str | None, comment: str) -> dict | None:
        """Record a lead's confirmation or correction; the complaint's routing becomes the reviewed one and it
        leaves the queue. Returns the review, or None for an unknown complaint."""
        with self.session() as session:
            record = session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id)
                                    .with_for_update())
            if record is None:
                return None
            review = Review(complaint_seq=record.seq, key_id=principal.key_id, reviewer=principal.name,
                            action=action, category=category or record.category, tier=tier or record.tier,
                            department=department or record.department, comment=comment,
                            previous_category=record.category, previous_tier=record.tier,
                            previous_department=record.department, created_at=utcnow())
            session.add(review)
            record.category, record.tier, record.department = review.category, review.tier, review.department
            record.reviewed_at = review.created_at
            session.flush()
            return _review(review)

    def feedback_rows(self, since: datetime | None = None) -> Iterator[dict]:
        """Every review as a training row (the latest review of a complaint wins)."""
        with self.session() as session:
            query = (select(Review, Complaint.complaint_id, Complaint.text)
                     .join(Complaint, Complaint.seq == Review.complaint_seq).order_by(Review.id))
            if since is not None:
                query = query.where(Review.created_at >= since)
            latest: dict[str, dict] = {}
            for review, complaint_id, text in session.execute(query):
                latest[complaint_id] = {
                    "complaint_id": complaint_id, "text": text, "category": review.category, "tier": review.tier,
                    "department": review.department, "action": review.action,
                    "original_category": review.previous_category, "original_tier": review.previous_tier,
                    "reviewer": review.reviewer, "reviewed_at": review.created_at.isoformat()}
            yield from latest.values()

    # ---- similarity window -------------------------------------------------------------------------
    def window(self, since: datetime, after_seq: int = 0) -> Iterator[dict]:
        """Complaints received since `since` (and stored after `after_seq`), in arrival order, with the topic
        vector and model version of their first decision: what a restart replays into the similarity engine."""
        first = (select(DecisionRecord.complaint_seq, func.min(DecisionRecord.id).label("first_id"))
                 .group_by(DecisionRecord.complaint_seq).subquery())
        query = (select(Complaint, DecisionRecord.topic_vector, DecisionRecord.model_version,
                        DecisionRecord.payload["category"].as_string())
                 .join(first, first.c.complaint_seq == Complaint.seq)
                 .join(DecisionRecord, DecisionRecord.id == first.c.first_id)
                 .where(Complaint.received_at >= since, Complaint.seq > after_seq)
                 .order_by(Complaint.seq))
        with self.session() as session:
            for record, vector, model_version, category in session.execute(query.execution_options(yield_per=1000)):
                yield {"seq": record.seq, "complaint_id": record.complaint_id, "customer_id": record.customer_id,
                       "received_at": record.received_at, "text": record.text, "channel": record.channel,
                       "product": record.product, "category": category, "model_version": model_version,
                       "vector": None if vector is None else np.frombuffer(vector, dtype=np.float32)}

    def last_seq(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.max(Complaint.seq))) or 0

    # ---- clusters ----------------------------------------------------------------------------------
    def alerted_clusters(self) -> list[dict]:
        with self.session() as session:
            return [r.summary for r in session.scalars(select(ClusterRecord).order_by(
                ClusterRecord.first_alert_at.desc()))]

    def member_times(self, complaint_ids: list[str]) -> list[tuple[str, datetime, str | None]]:
        """(complaint id, received at, customer) of cluster members, for a cluster's size-over-time chart."""
        with self.session() as session:
            rows = session.execute(select(Complaint.complaint_id, Complaint.received_at, Complaint.customer_id)
                                   .where(Complaint.complaint_id.in_(complaint_ids))
                                   .order_by(Complaint.received_at))
            return [(r[0], r[1], r[2]) for r in rows]

    def summaries(self, complaint_ids: list[str]) -> list[dict]:
        with self.session() as session:
            rows = session.scalars(select(Complaint).where(Complaint.complaint_id.in_(complaint_ids))
                                   .order_by(Complaint.received_at))
            return [_summary(r) for r in rows]

    # ---- monthly figures ---------------------------------------------------------------------------
    def stats(self, start: datetime, end: datetime, now: datetime | None = None) -> dict:
        """Counts of the complaints received in [start, end) by category, channel, tier and department (as
        routed now, corrections included), repeat and group shares, review figures, and deadline compliance:
        of the complaints whose response clock has run out, the share that was routed (automatically, or
        confirmed by a lead) before it did."""
        now = now or utcnow()
        with self.session() as session:
            rows = session.execute(select(
                Complaint.category, Complaint.channel, Complaint.tier, Complaint.department, Complaint.is_repeat,
                Complaint.cluster_id, Complaint.group_alert, Complaint.needs_review, Complaint.reviewed_at,
                Complaint.respond_by, Complaint.created_at,
            ).where(Complaint.received_at >= start, Complaint.received_at < end)).all()
            corrected = session.scalar(
                select(func.count(func.distinct(Review.complaint_seq)))
                .join(Complaint, Complaint.seq == Review.complaint_seq)
                .where(Review.action == "correct", Complaint.received_at >= start, Complaint.received_at < end)) or 0
        total = len(rows)
        due = [r for r in rows if r.respond_by <= now]

        def routed_in_time(r) -> bool:
            routed_at = r.reviewed_at if r.needs_review else r.created_at
            return routed_at is not None and routed_at <= r.respond_by

        on_time = sum(routed_in_time(r) for r in due)

        def share(n: int) -> float:
            return round(n / total, 4) if total else 0.0

        return {
            "from": start, "to": end, "complaints": total,
            "by_category": dict(Counter(r.category for r in rows).most_common()),
            "by_channel": dict(Counter(r.channel or "unknown" for r in rows).most_common()),
            "by_tier": {t: sum(r.tier == t for r in rows) for t in TIER_RANK},
            "by_department": dict(Counter(r.department for r in rows).most_common()),
            "repeat_share": share(sum(r.is_repeat for r in rows)),
            "group_share": share(sum(r.group_alert is not None for r in rows)),
            "review": {"needed": sum(r.needs_review for r in rows),
                       "reviewed": sum(r.reviewed_at is not None for r in rows),
                       "corrected": corrected,
                       "open": sum(r.needs_review and r.reviewed_at is None for r in rows)},
            "deadlines": {"due": len(due), "met": on_time,
                          "compliance": round(on_time / len(due), 4) if due else None,
                          "open_overdue": sum(r.needs_review and r.reviewed_at is None for r in due)},
        }


def _save_cluster(session: Session, summary: dict) -> None:
    record = session.get(ClusterRecord, summary["cluster_id"]) or ClusterRecord(cluster_id=summary["cluster_id"])
    record.alert = summary["alert"]
    record.first_alert_at = datetime.fromisoformat(summary["first_alert_at"]) if summary.get("first_alert_at") else None
    record.size = summary["size"]
    record.distinct_customers = summary["distinct_customers"]
    record.updated_at = utcnow()
    record.summary = summary
    session.merge(record)


def _routing(decision: Decision) -> dict:
    return {"category": decision.category, "tier": decision.tier.label, "department": decision.department,
            "confidence": decision.category_confidence, "needs_review": decision.needs_review,
            "is_repeat": decision.repeat.is_repeat, "cluster_id": decision.group.cluster_id,
            "group_alert": decision.group.alert, "respond_by": decision.clocks.respond_by}


def _decision_record(seq: int, decision: Decision, vector: np.ndarray | None) -> DecisionRecord:
    return DecisionRecord(
        complaint_seq=seq, model_version=decision.model_version, policy_version=decision.policy_version,
        category=decision.category, confidence=decision.category_confidence, tier=decision.tier.label,
        department=decision.department, rules=[r.rule for r in decision.tier.reasons],
        payload=decision.model_dump(mode="json"),
        topic_vector=None if vector is None else np.asarray(vector, dtype=np.float32).tobytes())


def _summary(record: Complaint) -> dict:
    return {"complaint_id": record.complaint_id, "customer_id": record.customer_id, "channel": record.channel,
            "product": record.product, "amount": record.amount, "received_at": record.received_at,
            "category": record.category, "tier": record.tier, "department": record.department,
            "confidence": record.confidence, "needs_review": record.needs_review,
            "reviewed_at": record.reviewed_at, "is_repeat": record.is_repeat, "cluster_id": record.cluster_id,
            "group_alert": record.group_alert, "respond_by": record.respond_by}


def _history(record: DecisionRecord) -> dict:
    return {"decided_at": record.created_at, "model_version": record.model_version,
            "policy_version": record.policy_version, "category": record.category,
            "confidence": record.confidence, "tier": record.tier, "department": record.department,
            "rules": record.rules}


def _review(review: Review) -> dict:
    return {"reviewer": review.reviewer, "action": review.action, "category": review.category,
            "tier": review.tier, "department": review.department, "comment": review.comment,
            "previous": {"category": review.previous_category, "tier": review.previous_tier,
                         "department": review.previous_department},
            "reviewed_at": review.created_at}
