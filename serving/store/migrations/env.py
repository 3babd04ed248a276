"""Alembic environment. `serving.store.db.migrate` runs it with an open connection; the `alembic` command line
(`alembic -c serving/store/alembic.ini -x url=... upgrade head`) runs it with a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from serving.store.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=context.get_x_argument(as_dictionary=True).get("url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.get_x_argument(as_dictionary=True)["url"])
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    # render_as_batch: SQLite alters tables by copying them; Alembic's batch mode does that for us.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
