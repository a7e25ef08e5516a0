"""/follow, /unfollow, /topics and their buttons, against the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import articles, subscribers
from tests.handlers.conftest import ADMIN, RunningBot
from tests.support.botapi import SentMessage


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
        await asyncio.sleep(0.1)
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


async def test_an_anonymous_group_admin_may_change_follows(bot: RunningBot) -> None:
    """An admin posting as the group (from: @GroupAnonymousBot, sender_chat: the group) is an admin."""
    group = {"id": -100501, "type": "supergroup", "title": "G"}
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
    text = "/follow Iran"
    entity = {"type": "bot_command", "offset": 0, "length": len("/follow")}
    message = {"message_id": 1, "date": 0, "chat": group, "from": anonymous, "sender_chat": group, "text": text}
    bot.server.add_raw_update({"message": {**message, "entities": [entity]}})
    (reply,) = await bot.server.wait_for_sent(1, chat_id=group["id"])
    assert "✅" in reply.plain_text
    assert await _topics(bot, group["id"]) == ["iran"]


def _buttons(message: SentMessage | dict) -> list[tuple[str, str]]:
    markup = message.reply_markup if isinstance(message, SentMessage) else message.get("reply_markup")
    return [(b["text"], b["callback_data"]) for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def _follows(bot: RunningBot, chat_id: int) -> list[tuple[str, str | None]]:
    async with bot.app.bot_data.db() as session:
        return await subscribers.follows_of(session, chat_id)


async def _edited(bot: RunningBot, count: int) -> None:
    for _ in range(100):
        if len(bot.server.edits) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} edits, got {len(bot.server.edits)}")


async def test_a_typo_offers_did_you_mean_buttons_that_follow(bot: RunningBot) -> None:
    bot.server.user_sends("/follow Rusia - Iram", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "Rusia - Iram" in reply.plain_text and "هل تقصد" in reply.plain_text
    buttons = _buttons(reply)
    assert buttons[0] == ("إيران وروسيا", "f:iran+russia")
    assert all(len(data.encode()) <= 64 for _, data in buttons)
    bot.server.user_clicks("f:iran+russia", message=reply, user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "✅" in replies[1].plain_text
    assert await _topics(bot, 7) == ["iran+russia"]


async def test_in_a_forum_a_follow_button_answers_in_the_thread_it_was_pressed_in(bot: RunningBot) -> None:
    forum = -1001000000079
    bot.server.admin_ids.add(ADMIN)
    bot.server.add_chat({"id": forum, "type": "supergroup", "title": "منتدى", "is_forum": True})
    bot.server.user_sends(
        "/follow Rusia - Iram", user_id=ADMIN, chat_id=forum, chat_type="supergroup", message_thread_id=5
    )
    (reply,) = await bot.server.wait_for_sent(1, chat_id=forum)
    assert reply.message_thread_id == 5
    bot.server.user_clicks("f:iran+russia", message=reply, user_id=ADMIN)
    replies = await bot.server.wait_for_sent(2, chat_id=forum)
    assert "✅" in replies[1].plain_text and replies[1].message_thread_id == 5


async def test_an_unknown_word_is_followed_as_a_keyword_only_when_confirmed(bot: RunningBot) -> None:
    bot.server.user_sends("/follow الطاقة الشمسية", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "الطاقة الشمسية" in reply.plain_text and "كلمة مفتاحية" in reply.plain_text
    assert await _topics(bot, 7) == []  # nothing followed before the reader confirms
    (keyword_button,) = [(text, data) for text, data in _buttons(reply) if data == "f:kw:"]
    assert "الطاقة الشمسية" in keyword_button[0]
    bot.server.user_clicks("f:kw:", message=reply, user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "✅" in replies[1].plain_text and "الطاقة الشمسية" in replies[1].plain_text
    assert await _follows(bot, 7) == [("kw:طاقه شمسيه", "الطاقة الشمسية")]
    bot.server.user_clicks("f:kw:", message=reply, user_id=7)
    replies = await bot.server.wait_for_sent(3, chat_id=7)
    assert "من قبل" in replies[2].plain_text
    bot.server.user_sends("/unfollow الطاقة الشمسية", user_id=7)
    replies = await bot.server.wait_for_sent(4, chat_id=7)
    assert "إلغاء" in replies[3].plain_text and await _topics(bot, 7) == []


async def test_keyword_button_reads_the_query_back_even_with_html_in_it(bot: RunningBot) -> None:
    bot.server.user_sends("/follow <سد> & النهضة", user_id=7, language_code="en")
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "<سد> & النهضة" in reply.plain_text and "keyword" in reply.plain_text
    bot.server.user_clicks("f:kw:", message=reply, user_id=7, language_code="en")
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert "You now follow the keyword" in replies[1].plain_text
    assert await _follows(bot, 7) == [("kw:سد نهضه", "<سد> & النهضة")]
    bot.server.user_sends("/topics", user_id=7, language_code="en")
    listing = (await bot.server.wait_for_sent(3, chat_id=7))[2]
    assert "🔑 <سد> & النهضة" in listing.plain_text


async def test_keyword_data_on_a_message_without_a_keyword_button_is_stale(bot: RunningBot) -> None:
    bot.server.user_sends("/start", user_id=7)
    (welcome,) = await bot.server.wait_for_sent(1, chat_id=7)
    bot.server.user_clicks("f:kw:", message=welcome, user_id=7, strict=False)
    for _ in range(100):
        if bot.server.callback_answers:
            break
        await asyncio.sleep(0.05)
    assert "لم يعد صالحاً" in str(bot.server.callback_answers[-1])
    assert await _topics(bot, 7) == []


async def test_too_long_topics_and_keywords_get_clear_limits(bot: RunningBot) -> None:
    bot.server.user_sends("/follow " + "كلمة " * 30, user_id=7)
    bot.server.user_sends("/follow الطاقة الشمسية المتجددة في الخليج", user_id=7)
    too_long, too_many_words = await bot.server.wait_for_sent(2, chat_id=7)
    assert "100" in too_long.plain_text
    assert "3 كلمات" in too_many_words.plain_text and "40" in too_many_words.plain_text
    assert all(data != "f:kw:" for _, data in _buttons(too_many_words))
    assert await _topics(bot, 7) == []


async def test_keyword_confirmation_respects_the_topic_limit(bot: RunningBot, tmp_path: Path) -> None:
    async with bot.app.bot_data.db.begin() as session:
        await subscribers.touch(session, 7, chat_type="private", language="ar")
        for key in [
            "iran",
            "russia",
            "syria",
            "yemen",
            "iraq",
            "lebanon",
            "egypt",
            "turkey",
            "israel",
            "qatar",
            "oman",
            "jordan",
            "kuwait",
            "bahrain",
            "libya",
            "sudan",
            "tunisia",
            "algeria",
            "morocco",
            "china",
            "ukraine",
        ][: bot.settings.max_topics_per_chat]:
            await subscribers.follow(session, 7, key)
    bot.server.user_sends("/follow الطاقة الشمسية", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    bot.server.user_clicks("f:kw:", message=reply, user_id=7)
    replies = await bot.server.wait_for_sent(2, chat_id=7)
    assert str(bot.settings.max_topics_per_chat) in replies[1].plain_text
    assert "kw:طاقه شمسيه" not in await _topics(bot, 7)


async def test_follow_without_topic_suggests_most_followed_and_most_active(bot: RunningBot) -> None:
    now = datetime.now(UTC)
    async with bot.app.bot_data.db.begin() as session:
        for chat_id, keys in {
            100: ["syria", "kw:سر"],
            101: ["syria", "kw:سر"],
            102: ["yemen", "kw:سر"],
            7: ["iran"],
        }.items():
            await subscribers.touch(session, chat_id, chat_type="private", language="ar")
            for key in keys:
                await subscribers.follow(session, chat_id, key)
        for created, keys in [(now, ["oil", "iran"]), (now, ["oil"]), (now - timedelta(days=10), ["egypt"] * 1)]:
            story = articles.Story(title="t", digest="d", published_at=created, created_at=created)
            session.add(story)
            await session.flush()
            await articles.add_topics(session, story.id, [*keys, "kw:سر"])
    bot.server.user_sends("/follow", user_id=7)
    (reply,) = await bot.server.wait_for_sent(1, chat_id=7)
    assert "⭐" in reply.plain_text and "🔥" in reply.plain_text
    buttons = _buttons(reply)
    assert buttons == [("⭐ سوريا", "f:syria"), ("⭐ اليمن", "f:yemen"), ("🔥 النفط", "f:oil")]
    bot.server.user_clicks("f:oil", message=reply, user_id=7)
    await bot.server.wait_for_sent(2, chat_id=7)
    assert await _topics(bot, 7) == ["iran", "oil"]
    bot.server.user_sends("/follow", user_id=8, language_code="en")
    (english,) = await bot.server.wait_for_sent(1, chat_id=8)
    assert ("⭐ Syria", "f:syria") in _buttons(english) and "most followed" in english.plain_text


async def test_topics_lists_names_in_the_readers_language_and_long_keywords_unfollow(bot: RunningBot) -> None:
    label = "استراتيجياتهم واستثماراتهم الإقليمية"
    async with bot.app.bot_data.db.begin() as session:
        await subscribers.touch(session, 8, chat_type="private", language="en")
        await subscribers.follow(session, 8, "iran+russia")
        await subscribers.follow(session, 8, "kw:استراتيجياتهم استثماراتهم اقليميه", label=label)
        await subscribers.follow(session, 8, "saudi_arabia")
    bot.server.user_sends("/topics", user_id=8, language_code="en")
    (listing,) = await bot.server.wait_for_sent(1, chat_id=8)
    assert "Iran–Russia" in listing.plain_text and "Saudi Arabia" in listing.plain_text
    assert f"🔑 {label}" in listing.plain_text
    buttons = _buttons(listing)
    assert [data for _, data in buttons][0::2] == ["u:iran+russia", "u:saudi_arabia"]
    hashed = buttons[1][1]
    assert hashed.startswith("u:#") and len(hashed.encode()) <= 64 and label in buttons[1][0]
    bot.server.user_clicks(hashed, message=listing, user_id=8, language_code="en")
    await _edited(bot, 1)
    assert [key for key, _ in await _follows(bot, 8)] == ["iran+russia", "saudi_arabia"]
    done, _, listed = (bot.server.edits[-1].text or "").partition("\n\n")
    assert label in done and label not in listed and "Saudi Arabia" in listed
    assert any("You no longer follow" in str(answer) for answer in bot.server.callback_answers)
    bot.server.user_clicks(hashed, message=listing, user_id=8, language_code="en", strict=False)
    for _ in range(100):
        if len(bot.server.callback_answers) >= 2:
            break
        await asyncio.sleep(0.05)
    assert "no longer valid" in str(bot.server.callback_answers[-1])


async def test_a_failing_button_still_gets_answered(bot: RunningBot) -> None:
    from sqlalchemy import text

    bot.server.user_sends("/follow", user_id=7)
    (offer,) = await bot.server.wait_for_sent(1, chat_id=7)
    async with bot.app.bot_data.db.begin() as session:  # the database breaks under the bot
        await session.execute(text("DROP TABLE follows"))
    bot.server.user_clicks("f:iran+russia", message=offer, user_id=7)
    for _ in range(50):
        if bot.server.callback_answers:
            break
        await asyncio.sleep(0.1)
    (answer,) = bot.server.callback_answers
    assert answer.text and "خطأ" in answer.text
