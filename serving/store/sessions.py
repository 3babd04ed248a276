"""The review pages' sessions, kept server-side: open at sign-in, check on every page request, end at logout.

The cookie holds a random 256-bit token; the table holds its SHA-256 (like the API keys: a random token needs
no slow hash), the key it was opened with, when it was opened and last used. A session ends when it is
deleted (logout, its key revoked), when it has been unused for the idle timeout, or at its absolute lifetime.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from serving.store.base import StoreBase
from serving.store.records import Principal
from serving.store.tables import ApiKey, PageSession, utcnow

# last_seen_at is written at most this often per session (a page view is otherwise a read only): an idle
# session ends at most this much early. Never more than a tenth of the idle timeout.
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore(StoreBase):
    def open_session(self, key_id: int, idle: timedelta, lifetime: timedelta, now: datetime | None = None) -> str:
        """A new session for this key; returns its token (kept nowhere but in the caller's cookie). Expired
        sessions of any key are cleared on the way, so the table holds only live ones and the recently ended."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        with self.session() as session:
            session.execute(delete(PageSession).where(or_(PageSession.last_seen_at < now - idle,
                                                          PageSession.created_at < now - lifetime)))
            session.add(PageSession(token_hash=hash_token(token), key_id=key_id, created_at=now, last_seen_at=now))
        return token

    def session_principal(self, token: str, idle: timedelta, lifetime: timedelta,
                          now: datetime | None = None) -> Principal | None:
        """The holder of a live session, or None: no such session (logged out, never opened), its key revoked,
        idle too long, or past its lifetime. One indexed read; a write only to note the use now and then."""
        now = now or utcnow()
        digest = hash_token(token)
        with self.session() as session:
            row = session.execute(
                select(PageSession, ApiKey).join(ApiKey, PageSession.key_id == ApiKey.id)
                .where(PageSession.token_hash == digest)).one_or_none()
            if row is None:
                return None
            page_session, key = row
            if (key.revoked_at is not None or now - page_session.last_seen_at > idle
                    or now - page_session.created_at > lifetime):
                session.delete(page_session)
                return None
            if now - page_session.last_seen_at > min(TOUCH_EVERY, idle / 10):
                page_session.last_seen_at = now
            return Principal(key.id, key.name, key.role)

    def end_session(self, token: str) -> None:
        with self.session() as session:
            session.execute(delete(PageSession).where(PageSession.token_hash == hash_token(token)))
