"""Complaints, their decisions and reviews: storing a decided complaint for good, reading it back, the review
queue, the leads' reviews and the feedback rows they make, the similarity window, alerted clusters."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.store.base import StoreBase
from serving.store.records import (
    ComplaintRecord,
    ComplaintSummary,
    DecisionHistory,
    FeedbackRow,
    MemberTime,
    Principal,
    ReviewRecord,
    Routing,
    StoredComplaint,
    StoredDecision,
    WindowComplaint,
)
from serving.store.tables import ClusterRecord, Complaint, DecisionRecord, Review, utcnow
from triage.schemas import ClusterSummary, ComplaintIn, Decision
from triage.vocabulary import TIERS


class StoreConflict(Exception):
    """The complaint id is taken by a complaint with other content."""


class NothingToCorrect(ValueError):
    """A correction to the routing the complaint already has."""


@dataclass(frozen=True)
class NewComplaint:
    """A decided complaint, ready to be stored."""

    complaint: ComplaintIn
    digest: str
    decision: Decision
    vector: np.ndarray | None
    submitted_by: int | None
    alerted_cluster: ClusterSummary | None = None


@dataclass(frozen=True)
class QueueFilter:
    tier: str | None = None
    category: str | None = None
    department: str | None = None
    min_age_hours: float | None = None
    max_age_hours: float | None = None


def content_hash(complaint: ComplaintIn) -> str:
    """What "the same complaint" means for an idempotent retry: every submitted field, as submitted."""
    fields = complaint.model_dump(mode="json", exclude={"complaint_id"})
    if complaint.received_at is not None and complaint.received_at.tzinfo is not None:
        fields["received_at"] = complaint.received_at.astimezone(UTC).isoformat()  # one instant, any zone
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ComplaintStore(StoreBase):
    # ---- complaints ----------------------------------------------------------------------------
    def complaint_key(self, complaint_id: str) -> str:
        """The id a complaint named by a caller is stored under: its reference when the id is personal data
        (`DataProtector.complaint_reference`) — unless a complaint was stored under the id itself before references
        existed (a generated `C<date>-<12 hex>` id could hold an 11-digit run)."""
        reference = self.protector.complaint_reference(complaint_id) or complaint_id
        if reference != complaint_id and complaint_id in self.taken([complaint_id]):
            return complaint_id
        return reference

    def customer_key(self, customer_id: str) -> str:
        """The id a customer is stored under (their complaints' customer ids were converted when sealed)."""
        return self.protector.customer_reference(customer_id) or customer_id

    def taken(self, complaint_ids: list[str]) -> set[str]:
        """Which of these ids are stored (one indexed query for a batch)."""
        if not complaint_ids:
            return set()
        with self.session() as session:
            return set(session.scalars(select(Complaint.complaint_id)
                                      .where(Complaint.complaint_id.in_(set(complaint_ids)))))

    def submitters(self, complaint_ids: list[str]) -> dict[str, int | None]:
        """The key that submitted each of these stored complaints (an idempotent retry is its key's alone)."""
        if not complaint_ids:
            return {}
        with self.session() as session:
            rows = session.execute(select(Complaint.complaint_id, Complaint.submitted_by)
                                   .where(Complaint.complaint_id.in_(set(complaint_ids))))
            return {complaint_id: key_id for complaint_id, key_id in rows}

    def find(self, complaint_id: str) -> StoredComplaint | None:
        """The content hash and latest decision of a stored complaint, or None."""
        with self.session() as session:
            row = session.execute(
                select(Complaint.content_hash, DecisionRecord.payload)
                .join(DecisionRecord, DecisionRecord.complaint_seq == Complaint.seq)
                .where(Complaint.complaint_id == complaint_id)
                .order_by(DecisionRecord.id.desc()).limit(1)).first()
            return StoredComplaint(row[0], StoredDecision(row[1])) if row else None

    def add(self, complaint: ComplaintIn, digest: str, decision: Decision, vector: np.ndarray | None,
            submitted_by: int | None, alerted_cluster: ClusterSummary | None = None) -> int:
        """Commit a complaint with its first decision (and the summary of the cluster it made alert, in the
        same transaction); returns its arrival number. Raises StoreConflict when the id is taken (by
        another process; the caller compares content)."""
        return self.add_many([NewComplaint(complaint, digest, decision, vector, submitted_by, alerted_cluster)])[0]

    def add_many(self, rows: list[NewComplaint]) -> list[int]:
        """Commit complaints with their first decisions in one transaction (one fsync for all: a group commit);
        all or none. Raises StoreConflict when an id is taken. They are numbered next in the global order (inside
        the caller's `ordered()` transaction, or in one of their own); returns their numbers."""
        try:
            # a savepoint: inside a batch's ordered transaction a failed insert rolls back alone
            with self.ordered() as ordered, ordered.begin_nested(), self.session() as session:
                last = session.scalar(select(func.max(Complaint.global_seq))) or 0
                records = []
                for number, row in enumerate(rows, start=last + 1):
                    record = Complaint(
                        global_seq=number,
                        complaint_id=row.decision.complaint_id,
                        customer_id=self.protector.customer_reference(row.complaint.customer_id),
                        channel=row.complaint.channel, product=self.protector.mask_text(row.complaint.product),
                        amount=row.complaint.amount,
                        # in clear only as the model read it (normalised, masked); as submitted only sealed
                        text=row.decision.masked_text, original=self.protector.seal(row.complaint.text),
                        received_at=row.decision.received_at, content_hash=row.digest,
                        submitted_by=row.submitted_by, **_routing(row.decision))
                    session.add(record)
                    records.append(record)
                session.flush()
                for row, record in zip(rows, records, strict=True):
                    session.add(_decision_record(record.seq, row.decision, row.vector))
                    if row.alerted_cluster is not None:
                        _save_cluster(session, row.alerted_cluster)
                return [record.global_seq for record in records]
        except IntegrityError as exc:
            raise StoreConflict(", ".join(str(row.decision.complaint_id) for row in rows)) from exc

    def complaint(self, complaint_id: str) -> ComplaintRecord | None:
        """A complaint's record: its current routing, every decision (newest first) and every review."""
        with self.session() as session:
            record = session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id))
            if record is None:
                return None
            decisions = session.scalars(select(DecisionRecord).where(DecisionRecord.complaint_seq == record.seq)
                                        .order_by(DecisionRecord.id.desc())).all()
            reviews = session.scalars(select(Review).where(Review.complaint_seq == record.seq)
                                      .order_by(Review.id)).all()
            return ComplaintRecord(**vars(_summary(record)), submitted_by=record.submitted_by,
                                   decision=Decision.model_validate(decisions[0].payload),
                                   history=[_history(d) for d in decisions],
                                   reviews=[_review(r) for r in reviews])

    def customer_complaints(self, customer_id: str, limit: int = 50, offset: int = 0,
                            submitted_by: int | None = None) -> tuple[int, list[ComplaintSummary]]:
        where = [Complaint.customer_id == customer_id]
        if submitted_by is not None:
            where.append(Complaint.submitted_by == submitted_by)
        return self._page(and_(*where), [Complaint.received_at.desc(), Complaint.seq.desc()], limit, offset)

    def summaries(self, complaint_ids: list[str]) -> list[ComplaintSummary]:
        with self.session() as session:
            rows = session.scalars(select(Complaint).where(Complaint.complaint_id.in_(complaint_ids))
                                   .order_by(Complaint.received_at))
            return [_summary(r) for r in rows]

    def _page(self, where, order, limit: int, offset: int) -> tuple[int, list[ComplaintSummary]]:
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(Complaint).where(where)) or 0
            rows = session.scalars(select(Complaint).where(where).order_by(*order).limit(limit).offset(offset))
            return total, [_summary(r) for r in rows]

    # ---- review ----------------------------------------------------------------------------------
    def queue(self, filters: QueueFilter, limit: int = 50, offset: int = 0,
              now: datetime | None = None) -> tuple[int, list[ComplaintSummary]]:
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
        rank = case(*[(Complaint.tier == tier, rank) for rank, tier in enumerate(TIERS)], else_=len(TIERS))
        return self._page(and_(*where), [rank, Complaint.confidence, Complaint.received_at, Complaint.seq],
                          limit, offset)

    def queue_length(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(Complaint).where(
                Complaint.needs_review.is_(True), Complaint.reviewed_at.is_(None))) or 0

    def review(self, complaint_id: str, principal: Principal, action: str, category: str | None,
               tier: str | None, department: str | None, comment: str) -> ReviewRecord | None:
        """Record a lead's confirmation or correction; the complaint's routing becomes the reviewed one and it
        leaves the queue. Returns the review, or None for an unknown complaint."""
        with self.session() as session:
            record = session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id)
                                    .with_for_update())
            if record is None:
                return None
            if action == "correct" and (category or record.category, tier or record.tier,
                                        department or record.department) == (record.category, record.tier,
                                                                              record.department):
                raise NothingToCorrect(f"{complaint_id!r} is already routed to category {record.category}, tier "
                                       f"{record.tier}, department {record.department}: a correction must change "
                                       "one of them (to agree with the routing, confirm it)")
            review = Review(complaint_seq=record.seq, key_id=principal.key_id, reviewer=principal.name,
                            action=action, category=category or record.category, tier=tier or record.tier,
                            department=department or record.department,
                            comment=self.protector.mask_text(comment) or "",  # a lead's note may quote a number
                            previous_category=record.category, previous_tier=record.tier,
                            previous_department=record.department, created_at=utcnow())
            session.add(review)
            record.category, record.tier, record.department = review.category, review.tier, review.department
            record.reviewed_at = review.created_at
            session.flush()
            return _review(review)

    def feedback_rows(self, since: datetime | None = None) -> Iterator[FeedbackRow]:
        """Every review as a training row (the latest review of a complaint wins)."""
        with self.session() as session:
            query = (select(Review, Complaint.complaint_id, Complaint.text)
                     .join(Complaint, Complaint.seq == Review.complaint_seq).order_by(Review.id))
            if since is not None:
                query = query.where(Review.created_at >= since)
            latest: dict[str, FeedbackRow] = {}
            for review, complaint_id, text in session.execute(query):
                latest[complaint_id] = FeedbackRow(
                    complaint_id=complaint_id, text=text, category=review.category, tier=review.tier,
                    department=review.department, action=_effective_action(review),
                    original_category=review.previous_category, original_tier=review.previous_tier,
                    reviewer=review.reviewer, reviewed_at=review.created_at.isoformat())
            yield from latest.values()

    # ---- similarity window -------------------------------------------------------------------------
    def window(self, since: datetime | None, after_seq: int = 0) -> Iterator[WindowComplaint]:
        """Complaints numbered after `after_seq` in the global order (and received since `since`, when given), in
        that order, with the topic vector and model version of their first decision: what a restart replays
        into the similarity engine, and what a worker's window catches up on before it decides."""
        where = [Complaint.global_seq > after_seq]
        if since is not None:
            where.append(Complaint.received_at >= since)
        # the first decision of just these complaints (a catch-up reads a handful: no scan of every decision)
        first = (select(DecisionRecord.complaint_seq, func.min(DecisionRecord.id).label("first_id"))
                 .where(DecisionRecord.complaint_seq.in_(select(Complaint.seq).where(*where)))
                 .group_by(DecisionRecord.complaint_seq).subquery())
        query = (select(Complaint, DecisionRecord.topic_vector, DecisionRecord.model_version,
                        DecisionRecord.payload["category"].as_string())
                 .join(first, first.c.complaint_seq == Complaint.seq)
                 .join(DecisionRecord, DecisionRecord.id == first.c.first_id)
                 .where(*where)
                 .order_by(Complaint.global_seq))
        with self.session() as session:
            for record, vector, model_version, category in session.execute(query.execution_options(yield_per=1000)):
                yield WindowComplaint(
                    seq=record.global_seq, complaint_id=record.complaint_id, customer_id=record.customer_id,
                    received_at=record.received_at, text=record.text, channel=record.channel,
                    product=record.product, category=category, model_version=model_version,
                    vector=None if vector is None else np.frombuffer(vector, dtype=np.float32),
                    original=None if record.original is None else self.protector.open(record.original))

    def last_seq(self) -> int:
        """The number of the last complaint in the global order (0: none yet)."""
        with self.session() as session:
            return session.scalar(select(func.max(Complaint.global_seq))) or 0

    # ---- clusters ----------------------------------------------------------------------------------
    def alerted_clusters(self) -> list[ClusterSummary]:
        """The latest summary of every cluster that ever alerted, newest alert first."""
        with self.session() as session:
            return [ClusterSummary.model_validate(r.summary) for r in session.scalars(
                select(ClusterRecord).order_by(ClusterRecord.first_alert_at.desc()))]

    def alerted_cluster(self, cluster_id: str) -> ClusterSummary | None:
        with self.session() as session:
            record = session.get(ClusterRecord, cluster_id)
            return None if record is None else ClusterSummary.model_validate(record.summary)

    def member_times(self, complaint_ids: list[str]) -> list[MemberTime]:
        """When cluster members arrived, for a cluster's size-over-time chart."""
        with self.session() as session:
            rows = session.execute(select(Complaint.complaint_id, Complaint.received_at, Complaint.customer_id)
                                   .where(Complaint.complaint_id.in_(complaint_ids))
                                   .order_by(Complaint.received_at))
            return [MemberTime(r[0], r[1], r[2]) for r in rows]


def _save_cluster(session: Session, summary: ClusterSummary) -> None:
    record = session.get(ClusterRecord, summary.cluster_id) or ClusterRecord(cluster_id=summary.cluster_id)
    record.alert = summary.alert
    record.first_alert_at = datetime.fromisoformat(summary.first_alert_at) if summary.first_alert_at else None
    record.size = summary.size
    record.distinct_customers = summary.distinct_customers
    record.updated_at = utcnow()
    record.summary = summary.model_dump(mode="json")
    session.merge(record)


def _routing(decision: Decision) -> dict:
    """The complaint's routing columns (the `complaints` table's copy of its current decision)."""
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


def _summary(record: Complaint) -> ComplaintSummary:
    return ComplaintSummary(
        complaint_id=record.complaint_id, customer_id=record.customer_id, channel=record.channel,
        product=record.product, amount=record.amount, received_at=record.received_at, category=record.category,
        tier=record.tier, department=record.department, confidence=record.confidence,
        needs_review=record.needs_review, reviewed_at=record.reviewed_at, is_repeat=record.is_repeat,
        cluster_id=record.cluster_id, group_alert=record.group_alert, respond_by=record.respond_by)


def _history(record: DecisionRecord) -> DecisionHistory:
    return DecisionHistory(
        decided_at=record.created_at, model_version=record.model_version, policy_version=record.policy_version,
        category=record.category, confidence=record.confidence, tier=record.tier, department=record.department,
        rules=record.rules, reason=record.reason)


def _changed(review: Review) -> bool:
    return (review.category, review.tier, review.department) != (
        review.previous_category, review.previous_tier, review.previous_department)


def _effective_action(review: Review) -> str:
    """A correction is one only when it changed the routing (reviews stored before such corrections were refused
    may not have): otherwise it agreed with it."""
    return "correct" if review.action == "correct" and _changed(review) else "confirm"


def _review(review: Review) -> ReviewRecord:
    return ReviewRecord(
        reviewer=review.reviewer, action=review.action, category=review.category, tier=review.tier,
        department=review.department, comment=review.comment,
        previous=Routing(review.previous_category, review.previous_tier, review.previous_department),
        reviewed_at=review.created_at)
