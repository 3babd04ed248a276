"""The database under the store: one SQLAlchemy engine, sessions that commit or roll back as a whole, and the
global order (`ordered()`): the one transaction at a time, across workers and instances, that numbers complaints."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from serving.privacy import DataProtector
from serving.store.at_rest import make_private, seal_plaintext_rows
from serving.store.db import GLOBAL_ORDER_LOCK, migrate, open_engine, open_ordered_engine


class StoreBase:
    """Opens (and migrates) the database; the parts of the store (keys, complaints, figures) run their
    queries in `session()`."""

    def __init__(self, url: str, synchronous: str = "FULL", protector: DataProtector | None = None):
        self.url = url
        make_private(url)  # a SQLite file: created 0600
        self.sql_engine: Engine = open_engine(url, synchronous)  # SQLAlchemy's, not the policy's or similarity's
        migrate(self.sql_engine)
        # Seals original texts and makes the references of ids (serving.privacy); unset: key files beside SQLite
        self.protector = protector or DataProtector.beside(url)
        seal_plaintext_rows(self.sql_engine, self.protector)
        self._sessions = sessionmaker(self.sql_engine, expire_on_commit=False)
        self._ordered_engine = open_ordered_engine(url, self.sql_engine, synchronous)
        self._ordered_sessions = sessionmaker(self._ordered_engine, expire_on_commit=False)
        self._ordered = threading.local()  # the global-order transaction this thread is in, if any

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; inside `ordered()` on this thread, the ordered transaction itself, so that what it
        writes commits with it (a write that must be able to fail alone takes a savepoint: `add_many`)."""
        ordered: Session | None = getattr(self._ordered, "session", None)
        if ordered is not None:
            yield ordered
            return
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def ordered(self) -> Iterator[Session]:
        """The global order: one transaction at a time across every worker and instance over this database, so
        that a worker can catch its similarity window up on every committed complaint, decide, number and
        commit its own, with no other complaint numbered in between. PostgreSQL: a transaction-scoped advisory
        lock, released by the commit (or rollback); SQLite: the database's write lock, taken by BEGIN IMMEDIATE.
        Every store call of this thread inside joins the transaction (re-entrant: an inner `ordered()` joins too)."""
        current: Session | None = getattr(self._ordered, "session", None)
        if current is not None:
            yield current
            return
        with self._ordered_sessions() as session, session.begin():
            if self._ordered_engine.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GLOBAL_ORDER_LOCK})
            self._ordered.session = session
            try:
                yield session
            finally:
                self._ordered.session = None

    def close(self) -> None:
        if self._ordered_engine is not self.sql_engine:
            self._ordered_engine.dispose()
        self.sql_engine.dispose()
