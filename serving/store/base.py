"""The database under the store: one SQLAlchemy engine, sessions that commit or roll back as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from serving.store.db import migrate, open_engine


class StoreBase:
    """Opens (and migrates) the database; the parts of the store (keys, complaints, figures) run their
    queries in `session()`."""

    def __init__(self, url: str, synchronous: str = "FULL"):
        self.url = url
        self.sql_engine: Engine = open_engine(url, synchronous)  # SQLAlchemy's, not the policy's or similarity's
        migrate(self.sql_engine)
        self._sessions = sessionmaker(self.sql_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.sql_engine.dispose()
