"""/feeds and /stats are for ADMIN_IDS only."""

from __future__ import annotations

from tests.handlers.conftest import ADMIN, RunningBot


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
