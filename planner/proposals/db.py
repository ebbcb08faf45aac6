"""Opening the store: database URL, engine settings that keep data safe, schema migrations.

Where the database is: ``FLEXPLAN_DATABASE_URL`` when set (any SQLAlchemy URL, e.g.
``postgresql+psycopg://user:pw@host/db``), otherwise the SQLite file ``DATA/flexplan.db``, where
DATA is the data folder of ``flexplan serve --data`` (default ``results``).

SQLite settings (CONVENTIONS §4, "nothing lost"): ``journal_mode=WAL`` and ``synchronous=FULL``
so an acknowledged commit survives a power cut; a 30 s busy timeout; and every write transaction
starts with ``BEGIN IMMEDIATE``. The last one matters: a deferred transaction that reads and then
writes can fail at once with "database is locked" when another writer got there first (SQLite
does not wait in that case), whereas IMMEDIATE takes the write lock up front and waits politely.
Readers are not blocked by a writer in WAL mode.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from planner.proposals.errors import StoreError

DATABASE_URL_ENV = "FLEXPLAN_DATABASE_URL"
DATA_DIR_ENV = "FLEXPLAN_DATA"
DEFAULT_DATA_DIR = Path("results")
DB_FILE_NAME = "flexplan.db"
BUSY_TIMEOUT_S = 30.0
_MIGRATIONS = Path(__file__).with_name("migrations")
#: Any fixed number: the PostgreSQL advisory lock that serialises concurrent migrations.
_PG_MIGRATION_LOCK = 72_28_992
#: Alembic keeps its running context in a module global: one migration per process at a time.
_MIGRATING = threading.Lock()


def data_dir(data: str | Path | None = None) -> Path:
    """The data folder: the argument, else ``FLEXPLAN_DATA``, else ``results``."""
    if data is not None:
        return Path(data)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def database_url(data: str | Path | None = None) -> str:
    """``FLEXPLAN_DATABASE_URL`` if set, else SQLite ``DATA/flexplan.db``."""
    env = os.environ.get(DATABASE_URL_ENV)
    if env:
        return env
    return f"sqlite:///{(data_dir(data) / DB_FILE_NAME).resolve()}"


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_settings(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("flexplan_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """An engine with the safety settings above (SQLite) or pre-ping (server databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        _sqlite_settings(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (``alembic upgrade head``), in one transaction.

    Concurrent openers are serialised (SQLite: the IMMEDIATE write lock; PostgreSQL: an advisory
    lock), so two processes opening a new database do not both create the tables.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with _MIGRATING, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class Store:
    """An open database: engine plus sessions. One request = one ``with store.session()``."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            try:
                upgrade_schema(self.engine)
            except Exception as exc:
                self.engine.dispose()
                raise StoreError(
                    f"database {safe_url(url)}: cannot open or upgrade it: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(
            self.engine.execution_options(flexplan_begin="DEFERRED"), expire_on_commit=False
        )

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back when it raises.

        ``write=False`` gives a read-only session that never waits for the write lock on SQLite;
        it is rolled back at the end (the objects read stay usable, detached).
        """
        factory = self._writer if write else self._reader
        with factory() as session:
            try:
                yield session
                if write:
                    session.commit()
                else:
                    session.expunge_all()  # keep what was read usable after the block
                    session.rollback()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_store(data: str | Path | None = None, url: str | None = None) -> Store:
    """Open (creating and upgrading as needed) the store of a data folder or URL."""
    return Store(url or database_url(data))
