"""/topics and /latest."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from storage import subscribers
from storage.articles import Story
from tests.handlers.conftest import RunningBot


async def test_latest_shows_times_in_the_zone_the_chat_chose(bot: RunningBot) -> None:
    """A chat that picked Europe/London in /settings sees 12:00 UTC as 12:00, not as Riyadh's 15:00."""
    async with bot.app.bot_data.db.begin() as session:
        await subscribers.touch(session, 7, chat_type="private", language="ar")
        preferences = await subscribers.preferences_of(session, 7)
        await subscribers.save_preferences(session, 7, replace(preferences, timezone="Europe/London"))
        session.add(Story(title="خبر", digest="خلاصة الخبر", published_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC)))
    bot.server.user_sends("/latest", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "2026-11-29 12:00" in reply.plain_text
