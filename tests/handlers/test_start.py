"""/start, /help, the command menu, unknown commands and free text."""

from __future__ import annotations

import asyncio

from handlers.common import callback_data, key_from_callback
from handlers.texts import t
from tests.handlers.conftest import RunningBot


def _buttons(message) -> list[tuple[str, str]]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(button["text"], button["callback_data"]) for row in rows for button in row]


async def test_start_welcomes_in_arabic_with_example_topic_buttons(bot: RunningBot) -> None:
    bot.server.user_sends("/start", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "خلاصة" in reply.plain_text and "/follow" in reply.plain_text
    buttons = _buttons(reply)
    assert 2 <= len(buttons) <= 4
    assert buttons[0][1] == "f:iran+russia"
    assert "إيران" in buttons[0][0] and "روسيا" in buttons[0][0]


async def test_start_in_english_for_english_users(bot: RunningBot) -> None:
    bot.server.user_sends("/start", user_id=8, language_code="en-GB")
    (reply,) = await bot.server.wait_for_sent(1, chat_id=8)
    assert "Welcome to Khulasa" in reply.plain_text


async def test_help_lists_commands_with_examples(bot: RunningBot) -> None:
    bot.server.user_sends("/help", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    for command in ("/follow", "/unfollow", "/topics", "/latest"):
        assert command in reply.plain_text
    assert "إيران روسيا" in reply.plain_text


async def test_command_menu_is_set_in_arabic_and_english(bot: RunningBot) -> None:
    menus = {language: [c["command"] for c in commands] for (_, language), commands in bot.server.commands.items()}
    assert set(menus) >= {"", "en"} or set(menus) >= {"ar", "en"}
    assert all({"follow", "latest", "topics", "unfollow", "help"} <= set(names) for names in menus.values())


async def test_unknown_command_and_free_text_get_a_short_helpful_reply(bot: RunningBot) -> None:
    bot.server.user_sends("/frobnicate", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "/help" in reply.plain_text
    bot.server.user_sends("أخبار <النفط> & الغاز", user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "/follow أخبار <النفط> & الغاز" in replies[1].plain_text  # echoed, escaped, valid HTML


async def test_hostile_input_never_crashes_the_bot(bot: RunningBot) -> None:
    nasty = [
        "/follow " + "<b>" * 50,
        "/follow " + "x" * 5000,
        "/unfollow &amp;",
        "/follow \u202e\u200f",
        "/latest extra",
    ]
    for text in nasty:
        bot.server.user_sends(text, user_id=9)
    replies = await bot.server.wait_for_sent(len(nasty), chat_id=9)
    assert len(replies) == len(nasty)
    bot.server.user_sends("/start", user_id=9)
    await bot.server.wait_for_sent(len(nasty) + 1, chat_id=9)


def test_callback_data_stays_within_telegram_limit_and_resolves_back() -> None:
    short, long = "iran+russia", "kw:" + "استراتيجياتهم " * 3
    assert callback_data("u", short) == "u:iran+russia"
    hashed = callback_data("u", long)
    assert hashed.startswith("u:#") and len(hashed.encode()) <= 64
    key = hashed.partition(":")[2]
    assert key_from_callback(key, [short, long]) == long
    assert key_from_callback(key, [short]) is None
    assert key_from_callback(short, []) == short


async def test_in_groups_only_commands_addressed_to_the_bot_get_the_unknown_command_reply(bot: RunningBot) -> None:
    """A group where the bot sees every message must not answer other bots' commands (/ban@OtherBot, /warn)."""
    group = -1001000000077
    me = bot.app.bot.username
    for text in ("/ban@OtherBot 12", "/warn", f"/frobnicate@{me}", "/help"):
        bot.server.user_sends(text, user_id=7, chat_id=group, chat_type="supergroup", chat_title="مجموعة")
    first, second = await bot.server.wait_for_sent(2, chat_id=group)
    assert first.text == t("unknown_command", "ar") and second.text == t("help", "ar")
    await asyncio.sleep(0.2)
    assert len(bot.server.sent_to(group)) == 2


async def test_a_command_deleted_before_the_reply_still_gets_one(bot: RunningBot) -> None:
    """Groups that auto-delete commands: the quoted message is gone, the reply is sent anyway (not an error)."""
    group = {"id": -1001000000078, "type": "supergroup", "title": "مجموعة"}
    user = {"id": 7, "is_bot": False, "first_name": "قارئ", "language_code": "ar"}
    entity = {"type": "bot_command", "offset": 0, "length": len("/help")}
    message = {"message_id": 999, "date": 0, "chat": group, "from": user, "text": "/help", "entities": [entity]}
    bot.server.add_raw_update({"message": message})  # never registered on the server: as if deleted
    (reply,) = await bot.server.wait_for_sent(1, chat_id=group["id"])
    assert reply.text == t("help", "ar")


async def test_an_edited_command_is_not_run_again(bot: RunningBot) -> None:
    update = bot.server.user_sends("/help", user_id=7)
    await bot.server.wait_for_sent(1, chat_id=7)
    edited = dict(update["message"], edit_date=update["message"]["date"] + 5)
    bot.server.add_raw_update({"edited_message": edited})
    bot.server.user_sends("/start", user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "خلاصة" in replies[1].plain_text  # the /start reply came next, not a second /help
    await asyncio.sleep(0.5)
    assert len(bot.server.sent_to(7)) == 2
