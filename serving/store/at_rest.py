"""The store's personal data at rest: the SQLite file private to its owner, and rows stored before the original
text was sealed (revision 0004) sealed and masked the first time a store with the key opens the database."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from serving.privacy import DataProtector
from serving.store.tables import Complaint, DecisionRecord, Review
from triage.features.pii import mask_pii

log = logging.getLogger(__name__)
PRIVATE = 0o600
_BATCH = 500


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None (another database, or one in memory)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


def make_private(url: str) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does (which would use the umask, often 0644);
    SQLite gives its -wal and -shm files the mode of the database file. A file made before this is narrowed."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))  # SQLite takes an empty file as new
    except FileExistsError:
        for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if existing.exists() and existing.stat().st_mode & 0o077:
                existing.chmod(PRIVATE)


def seal_plaintext_rows(engine: Engine, protector: DataProtector) -> int:
    """Rows stored before the original was sealed: the text sealed and masked, the ids as references, the product
    and the review comments masked, the decisions' copies of them too. Returns how many complaints; on SQLite the
    file is then vacuumed, so the freed pages that held the clear text are gone from it too."""
    sealed = 0
    with Session(engine) as session, session.begin():
        if engine.dialect.name == "sqlite":
            session.execute(select(1))  # the connection exists: secure_delete overwrites what is deleted or updated
            session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
        while rows := session.scalars(select(Complaint).where(Complaint.original.is_(None)).limit(_BATCH)).all():
            for row in rows:
                row.original = protector.seal(row.text)
                row.text = mask_pii(row.text)[0]
                row.customer_id = protector.customer_reference(row.customer_id)
                row.product = protector.mask_text(row.product)
            seqs = [row.seq for row in rows]
            for decision in session.scalars(select(DecisionRecord).where(DecisionRecord.complaint_seq.in_(seqs))):
                payload = dict(decision.payload)
                payload["customer_id"] = protector.customer_reference(payload.get("customer_id"))
                payload["product"] = protector.mask_text(payload.get("product"))
                if isinstance(payload.get("masked_text"), str):  # masked before the masking knew every spelling
                    payload["masked_text"] = mask_pii(payload["masked_text"])[0]
                decision.payload = payload
            for review in session.scalars(select(Review).where(Review.complaint_seq.in_(seqs))):
                review.comment = protector.mask_text(review.comment) or ""
            session.flush()
            sealed += len(rows)
    if sealed:
        log.warning("sealed the original text of %d complaints stored before revision 0004", sealed)
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("VACUUM")
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # and out of the write-ahead log
    return sealed

