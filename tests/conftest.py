"""Shared fixtures: databases (SQLite always, PostgreSQL where it runs), eval data location."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PTB_TIMEDELTA", "1")  # as bot.py sets it: time spans as timedelta, no deprecation warnings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from settings import async_database_url
from storage.db import make_engine, make_sessionmaker, migrate

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("KHULASA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def eval_dir() -> Path | None:
    """The shared evaluation data (../shared/eval), or None when this machine does not have it."""
    path = Path(os.environ.get("KHULASA_EVAL_DIR", ROOT.parent / "shared" / "eval"))
    return path if (path / "articles.jsonl").exists() else None


@pytest.fixture
def eval_path() -> Path:
    """The eval folder, or skip the test with a message."""
    path = eval_dir()
    if path is None:
        pytest.skip("shared eval data (../shared/eval) is not on this machine")
    return path


_pg_state: dict[str, str | None] = {}


async def _pg_check() -> str | None:
    engine = create_async_engine(async_database_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("select 1"))
        return None
    except Exception as exc:  # any failure to connect means "skip", with the reason shown
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {exc}"[:300]
    finally:
        await engine.dispose()


async def _pg_execute(statement: str) -> None:
    engine = create_async_engine(async_database_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here (None when it can); checked once per test session."""
    if "reason" not in _pg_state:
        _pg_state["reason"] = asyncio.run(_pg_check())
    return _pg_state["reason"]


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards), or skip with a message."""
    reason = pg_unavailable()
    if reason:
        if os.environ.get("KHULASA_REQUIRE_PG"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"khulasa_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A user-style database URL: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'khulasa.db'}"
    return request.getfixturevalue("pg_database_url")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database on each backend."""
    engine = make_engine(async_database_url(database_url))
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated SQLite database (for tests that need only one backend)."""
    engine = make_engine(async_database_url(f"sqlite:///{tmp_path / 'khulasa.db'}"))
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
