"""A customer's matters: their complaints grouped by the matter the repeat detector put them on, with the
splits and joins leads recorded (issue 17). The correction itself is the library's
(`triage.similarity.corrections`): the same one is applied here, to the stored record, and to the
similarity window, so that the customer's next complaints follow it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.base import StoreBase
from serving.store.records import MatterCorrectionEntry, MatterSummary, Principal
from serving.store.tables import Complaint, DecisionRecord, MatterCorrectionRecord, utcnow
from triage.similarity.corrections import MatterCorrection, correct, moved


class MatterStore(StoreBase):
    def customer_matters(self, customer_id: str, submitted_by: int | None = None) -> list[MatterSummary]:
        """The customer's complaints by matter — as their latest decisions put them, with the leads' corrections
        — the matter with the latest complaint first (a customer has a handful: read them all). With
        `submitted_by`, only the complaints that key submitted are listed (the matters are the same)."""
        with self.session() as session:
            rows, repeats, assignment = _matters(session, customer_id)
        matters: dict[str, list] = {}
        for row in rows:
            if submitted_by is None or row.submitted_by == submitted_by:
                matters.setdefault(assignment[row.complaint_id], []).append(row)
        summaries = [MatterSummary(matter_id=matter, complaints=len(members),
                                   complaint_ids=[row.complaint_id for row in members],
                                   first_received_at=min(row.received_at for row in members),
                                   last_received_at=max(row.received_at for row in members),
                                   shared=list(repeats[members[-1].seq].get("shared") or []))
                     for matter, members in matters.items()]
        return sorted(summaries, key=lambda m: m.last_received_at, reverse=True)

    def correct_matters(self, customer_id: str, correction: MatterCorrection, principal: Principal,
                        comment: str, after_seq: int) -> MatterCorrectionEntry:
        """Record a lead's split or join of the customer's matters, made after the complaint numbered `after_seq`
        in the global order (call it inside `ordered()`). Raises the library's UnknownComplaints (a complaint
        named is not this customer's) or MattersUnchanged (the matters already are so)."""
        with self.session() as session:
            _, _, before = _matters(session, customer_id)
            after = correct(before, correction, strict=True)
            record = MatterCorrectionRecord(
                customer_id=customer_id, action=correction.action, complaint_ids=list(correction.complaint_ids),
                moved=moved(before, after), after_seq=after_seq,
                key_id=principal.key_id, reviewer=principal.name,
                comment=self.protector.mask_text(comment) or "", created_at=utcnow())  # a lead's note, masked
            session.add(record)
            session.flush()
            return _entry(record)

    def matter_corrections(self, customer_id: str) -> list[MatterCorrectionEntry]:
        """The customer's matter corrections, oldest first."""
        with self.session() as session:
            return [_entry(r) for r in session.scalars(
                select(MatterCorrectionRecord).where(MatterCorrectionRecord.customer_id == customer_id)
                .order_by(MatterCorrectionRecord.id))]

    def matter_corrections_after(self, after_id: int) -> Iterator[MatterCorrectionEntry]:
        """Every matter correction recorded after `after_id`, in the order they were made: what a rebuilt
        similarity window replays among the complaints."""
        with self.session() as session:
            for record in session.scalars(select(MatterCorrectionRecord).where(MatterCorrectionRecord.id > after_id)
                                          .order_by(MatterCorrectionRecord.id)):
                yield _entry(record)


def as_correction(entry: MatterCorrectionEntry) -> MatterCorrection:
    return MatterCorrection(entry.action, tuple(entry.complaint_ids))  # type: ignore[arg-type]


def _matters(session: Session, customer_id: str) -> tuple[list[Any], dict[int, dict], dict[str, str]]:
    """The customer's complaints in arrival order, the repeat part of each one's latest decision, and each
    one's matter: the decisions' matters with the corrections replayed where they were made (a correction
    moves only the complaints stored before it; later ones were decided with it in force)."""
    rows = session.execute(select(Complaint.seq, Complaint.global_seq, Complaint.complaint_id, Complaint.received_at,
                                  Complaint.submitted_by)
                           .where(Complaint.customer_id == customer_id).order_by(Complaint.global_seq)).all()
    decisions = select(DecisionRecord.complaint_seq, DecisionRecord.payload).where(
        DecisionRecord.complaint_seq.in_([r.seq for r in rows])).order_by(DecisionRecord.id)
    repeats = {seq: payload.get("repeat") or {} for seq, payload in session.execute(decisions)}  # last wins
    corrections = list(session.scalars(select(MatterCorrectionRecord)
                                       .where(MatterCorrectionRecord.customer_id == customer_id)
                                       .order_by(MatterCorrectionRecord.id)))
    assignment: dict[str, str] = {}
    pending = iter(corrections)
    upcoming = next(pending, None)
    for row in rows:
        while upcoming is not None and upcoming.after_seq < row.global_seq:
            assignment = correct(assignment, as_correction(_entry(upcoming)), strict=False)
            upcoming = next(pending, None)
        assignment[row.complaint_id] = repeats.get(row.seq, {}).get("matter_id") or row.complaint_id
    while upcoming is not None:
        assignment = correct(assignment, as_correction(_entry(upcoming)), strict=False)
        upcoming = next(pending, None)
    return list(rows), repeats, assignment


def _entry(record: MatterCorrectionRecord) -> MatterCorrectionEntry:
    return MatterCorrectionEntry(
        id=record.id, customer_id=record.customer_id, action=record.action, complaint_ids=list(record.complaint_ids),
        moved=dict(record.moved), after_seq=record.after_seq, reviewer=record.reviewer, comment=record.comment,
        corrected_at=record.created_at)
