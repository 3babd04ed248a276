"""The sealed original text of a complaint: read by an admin only, and every read recorded (who, when)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from serving.store.base import StoreBase
from serving.store.records import Principal
from serving.store.tables import Complaint, OriginalRead, utcnow


@dataclass(frozen=True)
class ReadRecord:
    reader: str
    key_id: int | None
    read_at: datetime


@dataclass(frozen=True)
class OriginalText:
    """A complaint's text as submitted, with this read and every read before it (oldest first)."""

    complaint_id: str
    text: str
    reads: list[ReadRecord]


class OriginalStore(StoreBase):
    def read_original(self, complaint_id: str, principal: Principal) -> OriginalText | None:
        """Open the sealed original of a complaint and record the read in the same transaction: a read that is not
        recorded does not happen. None for an unknown complaint; `OriginalUnreadable` when this service's keys
        cannot open it (sealed under another key)."""
        with self.session() as session:
            record = session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id))
            if record is None:
                return None
            text = self.protector.open(record.original) if record.original is not None else record.text
            session.add(OriginalRead(complaint_seq=record.seq, key_id=principal.key_id, reader=principal.name,
                                     read_at=utcnow()))
            session.flush()
            reads = session.scalars(select(OriginalRead).where(OriginalRead.complaint_seq == record.seq)
                                    .order_by(OriginalRead.id)).all()
            return OriginalText(record.complaint_id, text,
                                [ReadRecord(r.reader, r.key_id, r.read_at) for r in reads])
