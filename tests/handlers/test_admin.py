"""/feeds and /stats are for ADMIN_IDS only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from storage import outbox, subscribers
from storage.articles import Story
from storage.feeds import listed as listed_feeds
from tests.feedgen import Item, rss, seed_article
from tests.handlers.conftest import ADMIN, RunningBot, make_settings, start_bot, stop_bot
from tests.support.botapi import BotApiServer
from tests.support.feedserver import FeedServer


async def test_admin_commands_refuse_others(bot: RunningBot) -> None:
    bot.server.user_sends("/stats", user_id=7)
    bot.server.user_sends("/feeds", user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert all("للمشرفين" in reply.plain_text or "مشرفي" in reply.plain_text for reply in replies)


async def test_stats_and_feeds_for_admins(bot: RunningBot) -> None:
    bot.server.user_sends("/start", user_id=7)
    bot.server.user_sends("/follow Iran", user_id=7)
    await bot.server.wait_for_sent(2, chat_id=7)
    bot.server.user_sends("/stats", user_id=ADMIN)
    (stats,) = await bot.server.wait_for_sent(1, chat_id=ADMIN)
    assert "subscribers: 1 active" in stats.plain_text and "follows: 1" in stats.plain_text
    bot.server.user_sends("/feeds", user_id=ADMIN)
    feeds = (await bot.server.wait_for_sent(2, chat_id=ADMIN))[1]
    assert "FEEDS" in feeds.plain_text


async def test_feeds_shows_each_feeds_health(tmp_path: Path) -> None:
    """Status, last success, articles in 24 h and the last error; names, URLs and reasons are escaped."""
    title, body = seed_article()
    async with FeedServer() as feeds, BotApiServer(admin_ids=[ADMIN]) as server:
        feeds.add("/good.xml", rss([Item("s", title, body)], title="صحيفة <الخليج> & الناس"))
        listed = f"{feeds.url('/good.xml')}, {feeds.url('/missing.xml?a=1&b=2')}"
        app = await start_bot(make_settings(server, tmp_path, feeds=listed))
        try:
            for _ in range(100):  # the poll job starts a second after start-up
                async with app.bot_data.db() as session:
                    if all(feed.last_checked_at for feed in await listed_feeds(session)):
                        break
                await asyncio.sleep(0.1)
            server.user_sends("/feeds", user_id=ADMIN)
            (reply,) = await server.wait_for_sent(1, chat_id=ADMIN)
        finally:
            await stop_bot(app)
    text = reply.plain_text
    assert "صحيفة <الخليج> & الناس [active]" in text and "new in 24h: 1" in text
    assert "/missing.xml?a=1&b=2" in text and "last error: HTTP 404 (not found)" in text
    assert "last success: never" in text


async def test_stats_counts_deliveries_by_status(bot: RunningBot) -> None:
    """Subscribers active and inactive, follows, stories today, and every delivery state."""
    async with bot.app.bot_data.db.begin() as session:
        for chat_id in range(1, 6):
            await subscribers.touch(session, chat_id, chat_type="private", language="ar")
            await subscribers.follow(session, chat_id, "iran")
        await subscribers.deactivate(session, 5)
        story = Story(title="خبر", digest="خلاصة", published_at=datetime.now(UTC))
        session.add(story)
        await session.flush()
        await outbox.enqueue(session, story.id, range(1, 6))
        await outbox.plan(session, [1, 2, 3], datetime.now(UTC))
        claimed = {c.chat_id: c.ids for c in await outbox.claim_chats(session, 3)}
        await outbox.mark_sent(session, claimed[1], 11)
        await outbox.mark_failed(session, claimed[2], "400")
        await outbox.mark_unknown(session, claimed[3], "lost")
        await outbox.drop_chat(session, 5, "403")
    bot.server.user_sends("/stats", user_id=ADMIN)
    (stats,) = await bot.server.wait_for_sent(1, chat_id=ADMIN)
    text = stats.plain_text
    assert "subscribers: 4 active, 1 inactive" in text and "follows: 5" in text and "stories in 24h: 1" in text
    assert "sent 1, pending 1, sending 0, failed 1, unknown 1, dropped 1" in text
