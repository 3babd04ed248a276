"""The monthly figures of `GET /v1/stats`: counts, shares, review work and deadline compliance."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, or_, select

from serving.store.base import StoreBase
from serving.store.records import DeadlineFigures, ReviewFigures, Stats
from serving.store.tables import Complaint, Review, utcnow
from triage.vocabulary import TIERS

# A correction counts when it changed the routing (a "correction" to the same labels is an agreement).
ROUTING_CHANGED = or_(Review.category != Review.previous_category, Review.tier != Review.previous_tier,
                      Review.department != Review.previous_department)


class FigureStore(StoreBase):
    def stats(self, start: datetime, end: datetime, now: datetime | None = None) -> Stats:
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
                .where(Review.action == "correct", ROUTING_CHANGED,
                       Complaint.received_at >= start, Complaint.received_at < end)) or 0
        total = len(rows)
        due = [r for r in rows if r.respond_by <= now]

        def routed_in_time(r) -> bool:
            routed_at = r.reviewed_at if r.needs_review else r.created_at
            return routed_at is not None and routed_at <= r.respond_by

        on_time = sum(routed_in_time(r) for r in due)

        def share(n: int) -> float:
            return round(n / total, 4) if total else 0.0

        return Stats(
            start=start, end=end, complaints=total,
            by_category=dict(Counter(r.category for r in rows).most_common()),
            by_channel=dict(Counter(r.channel or "unknown" for r in rows).most_common()),
            by_tier={t: sum(r.tier == t for r in rows) for t in TIERS},
            by_department=dict(Counter(r.department for r in rows).most_common()),
            repeat_share=share(sum(r.is_repeat for r in rows)),
            group_share=share(sum(r.group_alert is not None for r in rows)),
            review=ReviewFigures(needed=sum(r.needs_review for r in rows),
                                 reviewed=sum(r.reviewed_at is not None for r in rows),
                                 corrected=corrected,
                                 open=sum(r.needs_review and r.reviewed_at is None for r in rows)),
            deadlines=DeadlineFigures(due=len(due), met=on_time,
                                      compliance=round(on_time / len(due), 4) if due else None,
                                      open_overdue=sum(r.needs_review and r.reviewed_at is None for r in due)),
        )
