"""The database under the store: one SQLAlchemy engine, sessions that commit or roll back as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from serving.privacy import DataProtector
from serving.store.at_rest import make_private, seal_plaintext_rows
from serving.store.db import migrate, open_engine


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

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.sql_engine.dispose()
