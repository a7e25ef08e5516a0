"""/follow, /unfollow, /topics and their buttons, against the real database."""

from __future__ import annotations

import pytest

from storage import subscribers
from tests.handlers.conftest import RunningBot


async def _topics(bot: RunningBot, chat_id: int) -> list[str]:
    async with bot.app.bot_data.db() as session:
        return await subscribers.topics_of(session, chat_id)


@pytest.mark.parametrize("query", ["Iran–Russia", "Iran-Russia", "Iran and Russia", "إيران روسيا", "إيران وروسيا"])
async def test_follow_forms_mean_the_same_pair(bot: RunningBot, query: str) -> None:
    bot.server.user_sends(f"/follow {query}", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "✅" in reply.plain_text
    assert "إيران" in reply.plain_text and "روسيا" in reply.plain_text
    assert await _topics(bot, 7) == ["iran+russia"]


async def test_follow_twice_says_already_and_unfollow_removes(bot: RunningBot) -> None:
    bot.server.user_sends("/follow إيران وروسيا", user_id=7)
    bot.server.user_sends("/follow Iran-Russia", user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "من قبل" in replies[1].plain_text
    bot.server.user_sends("/unfollow Iran and Russia", user_id=7)
    replies = await bot.server.wait_for_sent(3, chat_id=7)
    assert "إلغاء" in replies[2].plain_text
    assert await _topics(bot, 7) == []


async def test_follow_without_topic_offers_buttons_and_a_button_follows(bot: RunningBot) -> None:
    bot.server.user_sends("/follow", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "/follow" in reply.plain_text
    bot.server.user_clicks("f:iran+russia", message=reply, user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "✅" in replies[1].plain_text
    assert await _topics(bot, 7) == ["iran+russia"]
    assert bot.server.callback_answers


async def test_unintelligible_topic_gets_examples_not_a_follow(bot: RunningBot) -> None:
    bot.server.user_sends("/follow ؟؟؟ !!!", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "/follow" in reply.plain_text and reply.reply_markup
    assert await _topics(bot, 7) == []


async def test_topics_lists_with_unfollow_buttons_that_work(bot: RunningBot) -> None:
    bot.server.user_sends("/topics", user_id=7)
    (empty,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "/follow" in empty.plain_text
    bot.server.user_sends("/follow Iran–Russia", user_id=7)
    bot.server.user_sends("/follow Syria", user_id=7)
    await bot.server.wait_for_sent(3, chat_id=7)
    bot.server.user_sends("/topics", user_id=7)
    listing = (await bot.server.wait_for_sent(4, chat_id=7))[3]
    assert "سوري" in listing.plain_text and "إيران" in listing.plain_text
    data = [b["callback_data"] for row in listing.reply_markup["inline_keyboard"] for b in row]
    assert data == ["u:iran+russia", "u:syria"]
    bot.server.user_clicks("u:syria", message=listing, user_id=7)
    for _ in range(50):
        if bot.server.edits:
            break
        await __import__("asyncio").sleep(0.1)
    assert await _topics(bot, 7) == ["iran+russia"]
    edited = bot.server.edits[-1]
    assert "u:syria" not in str(edited)


async def test_topic_limit_is_enforced_with_a_clear_message(bot: RunningBot) -> None:
    limit = bot.settings.max_topics_per_chat
    names = [
        "Iran",
        "Russia",
        "Syria",
        "Yemen",
        "Iraq",
        "Lebanon",
        "Egypt",
        "Turkey",
        "Israel",
        "Qatar",
        "Oman",
        "Jordan",
        "Kuwait",
        "Bahrain",
        "Libya",
        "Sudan",
        "Tunisia",
        "Algeria",
        "Morocco",
        "China",
        "Ukraine",
    ]
    for name in names[: limit + 1]:
        bot.server.user_sends(f"/follow {name}", user_id=7)
    replies = await bot.server.wait_for_sent(limit + 1, chat_id=7)
    assert str(limit) in replies[-1].plain_text
    assert len(await _topics(bot, 7)) == limit


async def test_in_groups_only_admins_change_follows(bot: RunningBot) -> None:
    group = -100500
    bot.server.user_sends("/follow Iran", user_id=7, chat_id=group, chat_type="supergroup", chat_title="G")
    (refused,) = await bot.server.wait_for_sent(1, chat_id=group)
    assert "المشرف" in refused.plain_text
    bot.server.admin_ids.add(77)
    bot.server.user_sends("/follow Iran", user_id=77, chat_id=group, chat_type="supergroup", chat_title="G")
    replies = await bot.server.wait_for_sent(2, chat_id=group)
    assert "✅" in replies[1].plain_text
    assert await _topics(bot, group) == ["iran"]
