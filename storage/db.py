"""Engine, sessions, the declarative base and migrations."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Insert, MetaData, TypeDecorator, event, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncAttrs,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import ReturningInsert

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (read by SQLAlchemy)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def make_engine(async_url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout, and its folder is created."""
    if async_url.startswith("sqlite"):
        path = async_url.partition(":///")[2].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(async_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(async_url, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep attributes after commit (no lazy loads under asyncio)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """An Alembic config pointing at our migrations, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database schema to the latest migration."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def insert_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, object]]) -> list[int]:
    """Insert rows in batches (one statement per thousand or so, not one per row); their new ids, in row order.

    PostgreSQL returns ids in parameter order itself. SQLite cannot (SQLAlchemy would fall back to one INSERT per
    row), but one multi-row INSERT gives its rows rowids in VALUES order, each above every id before it, so the
    returned ids sorted are the rows' ids in order.
    """
    if not rows:
        return []
    in_order = session.get_bind().dialect.name != "sqlite"
    ids = list((await session.scalars(_insert_returning_ids(model, in_order), rows)).all())
    return ids if in_order else sorted(ids)


async def add_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, object]]) -> None:
    """Insert rows in one executemany, as a Core statement on the model's table (the ORM's bulk insert costs more
    per row and adds nothing when no objects are involved)."""
    if rows:
        await session.execute(_insert(model), rows)


# The ingest inserts into the same few tables for every feed: each statement is built once (building one costs
# about as much CPU as running it).
@functools.cache
def _insert_returning_ids(model: type[Base], in_order: bool) -> ReturningInsert[tuple[int]]:
    table = model.__table__  # Core, as add_rows: the ORM's bulk insert costs ~40 % more CPU here (measured)
    return insert(table).returning(table.c.id, sort_by_parameter_order=in_order)  # type: ignore[attr-defined]


@functools.cache
def _insert(model: type[Base]) -> Insert:
    return insert(model.__table__)
