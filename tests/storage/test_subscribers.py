"""Subscribers and follows on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from settings import async_database_url
from storage import outbox, subscribers
from storage.db import alembic_config, make_engine, make_sessionmaker


async def test_follow_unfollow_and_followers_lookup(db) -> None:
    async with db.begin() as session:
        for chat_id in (1, 2, 3):
            await subscribers.touch(session, chat_id, chat_type="private", language="ar")
        assert await subscribers.follow(session, 1, "iran+russia")
        assert not await subscribers.follow(session, 1, "iran+russia")
        assert await subscribers.follow(session, 2, "iran")
        assert await subscribers.follow(session, 3, "syria")
    async with db.begin() as session:
        assert await subscribers.followers_of(session, ["iran", "russia", "iran+russia"]) == [1, 2]
        assert await subscribers.followers_of(session, []) == []
        await subscribers.deactivate(session, 2)
        assert await subscribers.followers_of(session, ["iran", "iran+russia"]) == [1]
        assert await subscribers.unfollow(session, 1, "iran+russia")
        assert not await subscribers.unfollow(session, 1, "iran+russia")
        assert await subscribers.topics_of(session, 1) == []
        assert await subscribers.popular_topics(session) in (["iran", "syria"], ["syria", "iran"])


async def test_telegram_ids_beyond_32_bits(db) -> None:
    big = -1002_147_483_648_123
    async with db.begin() as session:
        await subscribers.touch(session, big, chat_type="supergroup", language=None)
        await subscribers.follow(session, big, "oil")
    async with db() as session:
        assert await subscribers.followers_of(session, ["oil"]) == [big]


def _migrate_to(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_migration_0002_keeps_rows_on_upgrade_and_downgrade(database_url: str) -> None:
    """0002 only adds columns and indexes: no table is recreated, so no foreign key cascade deletes rows."""
    engine = make_engine(async_database_url(database_url))
    rows = {
        "subscribers": "INSERT INTO subscribers (chat_id, chat_type, language, active, mode, created_at, updated_at)"
        " VALUES (7, 'private', 'ar', true, 'instant', '2026-01-01', '2026-01-01')",
        "follows": "INSERT INTO follows (chat_id, topic_key, created_at) VALUES (7, 'iran', '2026-01-01')",
        "stories": "INSERT INTO stories (id, title, digest, published_at, created_at, updated_at)"
        " VALUES (1, 't', 'd', '2026-01-01', '2026-01-01', '2026-01-01')",
        "deliveries": "INSERT INTO deliveries (chat_id, story_id, status, attempts, created_at)"
        " VALUES (7, 1, 'sent', 1, '2026-01-01')",
    }
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0001")
            for statement in rows.values():
                await connection.execute(text(statement))
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "head")
        async with make_sessionmaker(engine)() as session:
            chat = await session.get(subscribers.Subscriber, 7)
            assert chat is not None and chat.digest_hour == 8 and chat.quiet_start is None
            assert await subscribers.topics_of(session, 7) == ["iran"]
            assert await outbox.counts(session) == {"sent": 1}
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0001", down=True)
            for table in rows:
                assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 1, table
    finally:
        await engine.dispose()


async def test_follows_with_labels_and_followed_keywords(db) -> None:
    async with db.begin() as session:
        for chat_id in (1, 2):
            await subscribers.touch(session, chat_id, chat_type="private", language="ar")
        await subscribers.follow(session, 1, "iran")
        await subscribers.follow(session, 1, "kw:طاقه شمسيه", label="الطاقة الشمسية")
        await subscribers.follow(session, 2, "kw:طاقه شمسيه", label="طاقة شمسية")
        await subscribers.follow(session, 2, "kw;not-a-keyword")
    async with db() as session:
        assert await subscribers.follows_of(session, 1) == [("iran", None), ("kw:طاقه شمسيه", "الطاقة الشمسية")]
        assert await subscribers.follows_of(session, 3) == []
        assert await subscribers.followed_keywords(session) == {"kw:طاقه شمسيه"}
