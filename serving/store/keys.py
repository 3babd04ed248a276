"""API keys: create, list, revoke, and find the holder of a key on every request."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from serving.privacy import DataProtector
from serving.roles import ROLES
from serving.store.base import StoreBase
from serving.store.records import KeyRecord, Principal
from serving.store.tables import ApiKey, PageSession, utcnow

KEY_PREFIX = "trk_"
KEY_CACHE_SECONDS = 10.0


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, not passwords: a plain SHA-256 cannot be brute-forced, and lets a
    # request find its key with one indexed lookup (a salted slow hash would need a scan).
    return hashlib.sha256(secret.encode()).hexdigest()


class LastAdminKey(Exception):
    """Revoking this key would leave no active admin key."""


class KeyStore(StoreBase):
    def __init__(self, url: str, synchronous: str = "FULL", protector: DataProtector | None = None):
        super().__init__(url, synchronous, protector)
        self._keys: dict[str, tuple[Principal, float]] = {}  # key hash -> (holder, valid until, monotonic)

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

    def list_keys(self) -> list[KeyRecord]:
        with self.session() as session:
            return [KeyRecord(k.id, k.name, k.role, k.prefix, k.created_at, k.revoked_at)
                    for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_key(self, key_id: int) -> bool:
        """Revokes the key and ends every review-page session opened with it, in one transaction."""
        self._keys.clear()
        with self.session() as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                return False
            if key.revoked_at is None:
                if key.role == "admin" and len(self._active_admins(session)) <= 1:
                    raise LastAdminKey(f"key {key_id} is the last active admin key: nobody could manage keys "
                                       "without it; create another admin key first")
                key.revoked_at = utcnow()
            session.execute(delete(PageSession).where(PageSession.key_id == key_id))
            return True

    @staticmethod
    def _active_admins(session: Session) -> list[int]:
        # FOR UPDATE (PostgreSQL): two admins revoking each other at once cannot both see the other still active
        return list(session.scalars(select(ApiKey.id).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
                                    .with_for_update()))

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
