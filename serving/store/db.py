"""Open the store: SQLite under a data directory by default (WAL), PostgreSQL by URL; migrate to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

MIGRATIONS = Path(__file__).with_name("migrations")
# PostgreSQL advisory-lock keys (one 64-bit namespace per database): the global order of complaints, and the
# schema migration that every instance starting at once would otherwise run side by side.
GLOBAL_ORDER_LOCK = 0x7472_6961_6765_0015  # "triage", issue 15
MIGRATION_LOCK = 0x7472_6961_6765_0001


def sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'triage.db'}"


def open_engine(url: str, synchronous: str = "FULL") -> Engine:
    """An engine with the pragmas the service relies on. SQLite: WAL so readers never block the writer,
    `synchronous=FULL` so a committed complaint survives a power cut too (NORMAL survives only a process
    crash), a busy timeout so a second writer waits instead of failing, foreign keys on."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def open_ordered_engine(url: str, engine: Engine, synchronous: str = "FULL") -> Engine:
    """The engine of the global order's transactions (`StoreBase.ordered`). PostgreSQL: the store's own (the
    order is an advisory lock). SQLite: a second engine over the same file whose transactions begin IMMEDIATE,
    taking the write lock before their first read, so that what a worker catches up on cannot change before it
    commits (pysqlite would begin only at the first write, and a snapshot read before it cannot be upgraded).
    An in-memory database has one connection and one process: its own engine."""
    if not url.startswith("sqlite") or url.split("///", 1)[-1] in ("", ":memory:"):
        return engine
    ordered = open_engine(url, synchronous)

    @event.listens_for(ordered, "connect")
    def _no_implicit_begin(connection, _record) -> None:
        connection.isolation_level = None  # SQLAlchemy's documented recipe: the "begin" event below emits BEGIN

    @event.listens_for(ordered, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return ordered


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (a no-op when it is there already). On PostgreSQL under
    an advisory lock: instances started together migrate one after the other, the later ones finding it done."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
