"""Once, never twice, across a crash: the real `python bot.py` is SIGKILLed in the middle of a fan-out.

300 chats follow Iran–Russia (seeded in the SQLite database before the bot starts); the feed gains an Iran–Russia
story; every send is slowed down at the loopback Bot API so that the kill lands with messages on the wire. After
a restart: no chat got the story twice, every delivery is sent or unknown, the unknown ones are at most the
sender's in-flight bound, and every other chat got its push.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from delivery import IN_FLIGHT
from news.topics import parse_topic
from settings import async_database_url
from storage import subscribers
from storage.db import make_engine, make_sessionmaker, migrate
from storage.outbox import Delivery
from tests.feedgen import WEATHER, Item, rss, seed_article
from tests.support.botapi import BotApiServer
from tests.support.feedserver import FeedServer
from tests.test_e2e import start_bot, stop, wait_for_polls

FOLLOWERS = 300
KILL_AFTER = 100
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


async def seed_followers(db: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    """Chats following Iran–Russia, written before the bot starts."""
    topic = parse_topic("Iran–Russia")
    assert topic is not None
    chat_ids = list(range(7_000_001, 7_000_001 + count))
    async with db.begin() as session:
        for chat_id in chat_ids:
            await subscribers.touch(session, chat_id, chat_type="private", language="ar")
            await subscribers.follow(session, chat_id, topic.key)
    return chat_ids


async def statuses(db: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with db() as session:
        return dict((await session.execute(select(Delivery.chat_id, Delivery.status))).all())  # type: ignore[arg-type]


async def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_a_crash_mid_fan_out_loses_at_most_what_was_in_flight_and_sends_nothing_twice(tmp_path: Path) -> None:
    engine = make_engine(async_database_url(f"sqlite:///{tmp_path / 'data' / 'khulasa.db'}"))
    await migrate(engine)
    db = make_sessionmaker(engine)
    title, body = seed_article()
    try:
        chat_ids = await seed_followers(db, FOLLOWERS)
        async with BotApiServer() as server, FeedServer() as feeds:
            feeds.add("/feed.xml", rss([Item("weather-1", *WEATHER)]), headers=RSS)
            bot = start_bot(server, feeds, tmp_path)
            try:
                await wait_for_polls(feeds, 1)  # the first fetch stores history and pushes nothing
                server.inject("sendMessage", delay=0.1, times=None)  # slow sends: some are always on the wire
                feeds.add(
                    "/feed.xml", rss([Item("iran-russia-1", title, body), Item("weather-1", *WEATHER)]), headers=RSS
                )
                await server.wait_for_sent(KILL_AFTER, timeout=60)
            finally:
                await stop(bot, signal.SIGKILL)
            await asyncio.sleep(0.5)  # the answers the dead bot never read still reach the chats
            before_restart = len(server.sent)
            assert before_restart < FOLLOWERS, "the kill came after the fan-out had finished"

            bot = start_bot(server, feeds, tmp_path)
            try:

                async def finished() -> bool:
                    found = await statuses(db)
                    return len(found) == FOLLOWERS and not {"pending", "sending"} & set(found.values())

                await wait_until(finished, 60, "the fan-out did not finish after the restart")
                await wait_for_polls(feeds, 1)
            finally:
                await stop(bot)
        found = await statuses(db)
    finally:
        await engine.dispose()

    received = Counter(message.chat_id for message in server.sent)
    assert max(received.values()) == 1, "a chat got the story twice"
    assert set(found.values()) <= {"sent", "unknown"}
    unknown = [chat for chat, status in found.items() if status == "unknown"]
    assert len(unknown) <= IN_FLIGHT
    assert all(received[chat] == 1 for chat, status in found.items() if status == "sent")
    assert set(received) <= set(chat_ids) and len(received) >= FOLLOWERS - len(unknown)
    log = (tmp_path / "bot.log").read_text()
    if unknown:
        assert f"{len(unknown)} deliveries were in flight at the last stop" in log
    assert "Traceback" not in log
