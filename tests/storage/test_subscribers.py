"""Subscribers and follows on SQLite and PostgreSQL."""

from __future__ import annotations

from storage import subscribers


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
