"""/settings and its buttons; reader commands in channels; forum threads; /start after a block."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from handlers.settings import apply_choice
from storage import outbox, subscribers
from storage.articles import Story
from storage.outbox import Delivery
from storage.subscribers import DAILY, HOURLY, Preferences
from tests.handlers.conftest import ADMIN, RunningBot
from tests.support.botapi import SentMessage

CHANNEL = -1001000000001
FORUM = -1001000000002


async def preferences(bot: RunningBot, chat_id: int) -> Preferences:
    async with bot.app.bot_data.db() as session:
        return await subscribers.preferences_of(session, chat_id)


def buttons(message: SentMessage | dict) -> list[str]:
    markup = message.reply_markup if isinstance(message, SentMessage) else message.get("reply_markup")
    return [button["callback_data"] for row in (markup or {}).get("inline_keyboard", []) for button in row]


async def click(bot: RunningBot, message: SentMessage, data: str, user_id: int) -> dict:
    """Press a button of the settings message and wait for the message to be redrawn; its new state."""
    answers = len(bot.server.callback_answers)
    bot.server.user_clicks(data, chat_id=message.chat_id, message_id=message.message_id, user_id=user_id)
    for _ in range(100):
        if len(bot.server.callback_answers) > answers:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # the redraw follows the answer
    current = bot.server.message(message.chat_id, message.message_id)
    assert current is not None
    return current


async def test_settings_buttons_choose_a_daily_digest_quiet_hours_and_a_time_zone(bot: RunningBot) -> None:
    bot.server.user_sends("/settings", user_id=7)
    (menu,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "فوراً" in menu.plain_text and "متوقفة" in menu.plain_text and "Asia/Riyadh" in menu.plain_text
    assert buttons(menu)[:3] == ["s:m:instant", "s:m:hourly", "s:m:daily"]
    state = await click(bot, menu, "s:m:daily", 7)
    assert "ملخص يومي" in state["text"] and "s:v:hour" in buttons(state)
    state = await click(bot, menu, "s:v:hour", 7)
    assert "s:h:21" in buttons(state)
    state = await click(bot, menu, "s:h:21", 7)
    assert "21:00" in state["text"]
    await click(bot, menu, "s:v:quiet", 7)
    state = await click(bot, menu, "s:q:22-7", 7)
    assert "22:00" in state["text"] and "07:00" in state["text"]
    await click(bot, menu, "s:v:zone", 7)
    state = await click(bot, menu, "s:z:Africa/Cairo", 7)
    assert "Africa/Cairo" in state["text"] and "s:v:zone" in buttons(state)  # back on the main menu
    assert await preferences(bot, 7) == Preferences(
        mode=DAILY, digest_hour=21, quiet_start=22, quiet_end=7, timezone="Africa/Cairo"
    )
    assert any(answer.text == "تم الحفظ ✅" for answer in bot.server.callback_answers)
    await click(bot, menu, "s:v:quiet", 7)
    state = await click(bot, menu, "s:q:off", 7)
    assert (await preferences(bot, 7)).quiet_start is None and "متوقفة" in state["text"]


async def test_a_settings_change_replans_the_pending_deliveries(bot: RunningBot) -> None:
    bot.server.user_sends("/settings", user_id=7)
    (menu,) = await bot.server.wait_for_sent(1, chat_id=7)
    async with bot.app.bot_data.db.begin() as session:
        story = Story(title="خبر", digest="خلاصة", published_at=datetime.now(UTC))
        session.add(story)
        await session.flush()
        await outbox.enqueue(session, story.id, [7])
        await outbox.plan(session, [7], datetime.now(UTC) + timedelta(hours=20))  # a daily digest, say
    await click(bot, menu, "s:m:hourly", 7)
    assert (await preferences(bot, 7)).mode == HOURLY
    async with bot.app.bot_data.db() as session:
        row = await session.scalar(select(Delivery))
    assert row is not None and (row.not_before is None or row.not_before - datetime.now(UTC) < timedelta(hours=1))


async def test_in_groups_only_admins_see_or_change_the_settings(bot: RunningBot) -> None:
    group = -1001000000099
    bot.server.user_sends("/settings", user_id=7, chat_id=group, chat_type="supergroup", chat_title="G")
    (refusal,) = await bot.server.wait_for_sent(1, chat_id=group)
    assert "المشرفون" in refusal.plain_text and not refusal.reply_markup
    bot.server.user_sends("/settings", user_id=ADMIN, chat_id=group, chat_type="supergroup", chat_title="G")
    menu = (await bot.server.wait_for_sent(2, chat_id=group))[1]
    await click(bot, menu, "s:m:daily", 7)
    assert (await preferences(bot, group)).mode == "instant"
    assert bot.server.callback_answers[-1].show_alert
    await click(bot, menu, "s:m:daily", ADMIN)
    assert (await preferences(bot, group)).mode == DAILY


async def test_reader_commands_work_in_a_channel_and_only_admins_press_its_buttons(bot: RunningBot) -> None:
    bot.server.user_sends("/follow Iran", chat_id=CHANNEL, chat_type="channel", chat_title="قناة")
    (followed,) = await bot.server.wait_for_sent(1, chat_id=CHANNEL)
    assert "✅" in followed.plain_text
    for count, command in enumerate(("/topics", "/latest", "/settings"), start=2):
        bot.server.user_sends(command, chat_id=CHANNEL, chat_type="channel")
        await bot.server.wait_for_sent(count, chat_id=CHANNEL)
    topics, _, menu = bot.server.sent_to(CHANNEL)[1:]
    assert "إيران" in topics.plain_text and "s:m:daily" in buttons(menu)
    async with bot.app.bot_data.db() as session:
        assert await subscribers.topics_of(session, CHANNEL) == ["iran"]
        chat = await session.get(subscribers.Subscriber, CHANNEL)
    assert chat is not None and chat.chat_type == "channel"
    await click(bot, menu, "s:m:daily", 7)  # a reader of the channel
    assert (await preferences(bot, CHANNEL)).mode == "instant"
    unfollow = next(data for data in buttons(topics) if data.startswith("u:"))
    bot.server.user_clicks(unfollow, message=topics, user_id=7)
    await click(bot, menu, "s:m:daily", ADMIN)
    assert (await preferences(bot, CHANNEL)).mode == DAILY
    async with bot.app.bot_data.db() as session:
        assert await subscribers.topics_of(session, CHANNEL) == ["iran"]


async def test_forum_pushes_go_to_the_thread_of_the_follow_or_of_send_here(bot: RunningBot) -> None:
    bot.server.add_chat({"id": FORUM, "type": "supergroup", "title": "منتدى", "is_forum": True})
    bot.server.user_sends("/follow Iran", user_id=ADMIN, chat_id=FORUM, chat_type="supergroup", message_thread_id=5)
    (followed,) = await bot.server.wait_for_sent(1, chat_id=FORUM)
    assert followed.message_thread_id == 5
    assert (await preferences(bot, FORUM)).thread_id == 5
    bot.server.user_sends("/settings", user_id=ADMIN, chat_id=FORUM, chat_type="supergroup", message_thread_id=9)
    menu = (await bot.server.wait_for_sent(2, chat_id=FORUM))[1]
    assert "s:t:here" in buttons(menu)
    await click(bot, menu, "s:t:here", ADMIN)
    assert (await preferences(bot, FORUM)).thread_id == 9


async def test_start_brings_back_a_chat_that_had_blocked_the_bot(bot: RunningBot) -> None:
    async with bot.app.bot_data.db.begin() as session:
        await subscribers.touch(session, 7, chat_type="private", language="ar")
        await subscribers.deactivate(session, 7)
    bot.server.user_sends("/start", user_id=7)
    await bot.server.wait_for_sent(1, chat_id=7)
    async with bot.app.bot_data.db() as session:
        chat = await session.get(subscribers.Subscriber, 7)
    assert chat is not None and chat.active


def test_only_listed_choices_are_applied() -> None:
    base = Preferences()
    assert apply_choice(base, "m", "weekly", thread_id=None) is None
    assert apply_choice(base, "h", "24", thread_id=None) is None
    assert apply_choice(base, "q", "7-7", thread_id=None) is None
    assert apply_choice(base, "z", "Mars/Olympus", thread_id=None) is None
    assert apply_choice(base, "h", "6", thread_id=None) == Preferences(mode=DAILY, digest_hour=6)
    assert apply_choice(base, "t", "here", thread_id=3) == Preferences(thread_id=3)
