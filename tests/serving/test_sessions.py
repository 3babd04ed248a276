"""The review pages' server-side sessions in the store, on a controlled clock: what ends a session (logout,
revoking its key, the idle timeout, the absolute lifetime), that use keeps it alive, and that the store never
holds the token itself."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from serving.store import Store

IDLE, LIFETIME = timedelta(minutes=30), timedelta(hours=8)
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path, database_url):
    opened = Store(database_url or f"sqlite:///{tmp_path}/triage.db", "NORMAL")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def lead(store):
    principal, _secret = store.create_key("lead Wang", "lead")
    return principal


def holder(store: Store, token: str, at: datetime):
    return store.session_principal(token, IDLE, LIFETIME, now=at)


def test_a_session_names_its_key_and_the_store_keeps_only_the_tokens_hash(store, lead):
    token = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    assert holder(store, token, T0 + timedelta(minutes=1)) == lead
    assert holder(store, token + "x", T0) is None
    with store.sql_engine.connect() as connection:
        rows = connection.execute(text("SELECT token_hash, key_id FROM sessions")).all()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), lead.key_id)]


def test_logout_ends_the_session_and_no_other(store, lead):
    first = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    second = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    store.end_session(first)
    assert holder(store, first, T0) is None
    assert holder(store, second, T0) == lead


def test_revoking_the_key_ends_every_session_opened_with_it(store, lead):
    other, _ = store.create_key("lead Li", "lead")
    tokens = [store.open_session(lead.key_id, IDLE, LIFETIME, now=T0) for _ in range(3)]
    kept = store.open_session(other.key_id, IDLE, LIFETIME, now=T0)
    assert store.revoke_key(lead.key_id)
    assert all(holder(store, token, T0) is None for token in tokens)
    assert holder(store, kept, T0) == other
    with store.sql_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sessions WHERE key_id = :k"),
                                  {"k": lead.key_id}).scalar() == 0


def test_an_idle_session_ends_and_use_keeps_one_alive(store, lead):
    idle = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    used = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    at = T0
    for _ in range(4):  # 4 x 20 minutes of use: longer than the idle timeout in all
        at += timedelta(minutes=20)
        assert holder(store, used, at) == lead
    assert holder(store, used, at + IDLE - timedelta(seconds=61)) == lead
    assert holder(store, idle, T0 + IDLE + timedelta(seconds=1)) is None
    assert holder(store, idle, T0) is None  # ended for good, not only refused once


def test_a_session_ends_at_its_lifetime_however_active(store, lead):
    token = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    at = T0
    while at + timedelta(minutes=10) <= T0 + LIFETIME:
        at += timedelta(minutes=10)
        assert holder(store, token, at) == lead
    assert holder(store, token, T0 + LIFETIME + timedelta(seconds=1)) is None


def test_opening_a_session_clears_the_expired_ones(store, lead):
    old = store.open_session(lead.key_id, IDLE, LIFETIME, now=T0)
    store.open_session(lead.key_id, IDLE, LIFETIME, now=T0 + IDLE + timedelta(minutes=1))
    with store.sql_engine.connect() as connection:
        hashes = set(connection.execute(text("SELECT token_hash FROM sessions")).scalars())
    assert hashlib.sha256(old.encode()).hexdigest() not in hashes and len(hashes) == 1
