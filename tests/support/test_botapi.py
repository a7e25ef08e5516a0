"""The fake Bot API works with the real python-telegram-bot (and behaves like Telegram)."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.support.botapi import (
    BotApiControl,
    BotApiProcess,
    BotApiServer,
    HtmlParseError,
    parse_telegram_html,
    utf16_len,
)

TOKEN = "123456:TEST-TOKEN"
ADMIN_ID = 7
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("التالي", callback_data="next")]])


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    """A fresh in-process fake Bot API."""
    async with BotApiServer(TOKEN, admin_ids={ADMIN_ID}) as srv:
        yield srv


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    """An initialised PTB Bot talking to ``server`` (with room for concurrent requests)."""
    request = HTTPXRequest(connection_pool_size=64, pool_timeout=5.0)
    async with Bot(TOKEN, base_url=server.base_url, request=request) as client:
        yield client


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def run_polling(server: BotApiServer, app: Application, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``app`` with long polling against ``server`` while ``body`` executes."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, poll_interval=0)
        try:
            await body()
        finally:
            await app.updater.stop()
            await app.stop()


def build_app(server: BotApiServer) -> Application:
    """A PTB Application pointed at the fake server."""
    return ApplicationBuilder().token(TOKEN).base_url(server.base_url).build()


# --------------------------------------------------------------------------- PTB Application


async def test_application_answers_start_command(server: BotApiServer) -> None:
    rejected: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None and update.effective_message is not None
        name = html.escape(update.effective_user.first_name)
        try:  # "& co" is not escaped: Telegram (and the fake) refuse it
            await update.effective_message.reply_text(f"<b>أهلاً</b> {name} & co", parse_mode="HTML")
        except BadRequest as exc:
            rejected.append(str(exc))
        await update.effective_message.reply_text(f"<b>أهلاً</b> {name} &amp; co", parse_mode="HTML")

    app = build_app(server)
    app.add_handler(CommandHandler("start", start))

    async def body() -> None:
        server.user_sends("/start", user_id=42, first_name="<Ali>")
        server.user_sends("/start@khulasa_test_bot", user_id=5, chat_id=-100500, chat_type="supergroup")
        server.user_sends("/start@other_bot", user_id=5, chat_id=-100500, chat_type="supergroup")
        await server.wait_for_sent(1, chat_id=42, timeout=5)
        await server.wait_for_sent(1, chat_id=-100500, timeout=5)
        await asyncio.sleep(0.1)

    await run_polling(server, app, body)
    assert len(rejected) == 2 and "parse entities" in rejected[0]
    [reply] = server.sent_to(42)
    assert reply.plain_text == "أهلاً <Ali> & co"
    assert reply.parse_mode == "HTML"
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert reply.message_id == 2  # per chat: 1 was the user's /start
    assert len(server.sent_to(-100500)) == 1  # /start@other_bot is not for us
    methods = [name for name, _, _ in server.requests]
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= set(methods)


async def test_ptb_sends_form_encoded_json_values(server: BotApiServer, bot: Bot) -> None:
    await bot.send_message(42, "hi", reply_markup=KEYBOARD, disable_notification=True, message_thread_id=9)
    raw = server.raw_requests[-1]
    assert raw.http_method == "POST"
    assert raw.content_type == "application/x-www-form-urlencoded"
    assert raw.params["chat_id"] == "42"
    assert raw.params["disable_notification"] == "true"
    assert isinstance(raw.params["reply_markup"], str)
    _, params, _ = server.requests[-1]
    assert params["chat_id"] == 42 and params["disable_notification"] is True
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "التالي", "callback_data": "next"}]]}
    [sent] = server.sent
    assert (sent.chat_id, sent.message_thread_id, sent.disable_notification) == (42, 9, True)
    assert sent.reply_markup == params["reply_markup"]


async def test_json_and_query_string_bodies(server: BotApiServer) -> None:
    async with httpx.AsyncClient(base_url=f"{server.base_url}{TOKEN}") as client:
        response = await client.post("/SENDMESSAGE", json={"chat_id": 5, "text": "json"})
        assert response.json()["result"]["text"] == "json"
        response = await client.get("/getMe", params={})
        assert response.json()["result"]["username"] == "khulasa_test_bot"
        response = await client.get("/sendMessage", params={"chat_id": "5", "text": "query"})
        assert response.json()["result"]["message_id"] == 2
        markup = KEYBOARD.to_json()
        form = {"chat_id": "5", "text": "multipart", "reply_markup": markup}
        response = await client.post("/sendMessage", data=form, files={"doc": ("a.txt", b"abc")})
        assert response.json()["result"]["reply_markup"] == KEYBOARD.to_dict()
        assert server.raw_requests[-1].content_type == "multipart/form-data"
        assert server.requests[-1][1]["doc"] == {"filename": "a.txt", "content_type": "text/plain", "size": 3}
        response = await client.post("/noSuchMethod")
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("<b>x", 'start tag "b"'),
        ("a < b", "Unsupported start tag"),
        ("<i>x</b>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<span>x</span>", "tg-spoiler"),
        ("AT&T", "&amp;"),
        ("&nbsp;", "&amp;"),
    ],
)
def test_html_parser_rejects(text: str, needle: str) -> None:
    with pytest.raises(HtmlParseError, match=needle):
        parse_telegram_html(text)


def test_html_parser_entities_and_offsets() -> None:
    parsed = parse_telegram_html(
        '😀<b>x<i>y</i></b> &lt;&#1575;&#x627;&quot; <a href="https://e.x/?a=1&amp;b=2">l</a>'
        '<pre><code class="language-python">p</code></pre><blockquote expandable>q</blockquote>'
        '<span class="tg-spoiler">s</span><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><b></b>'
    )
    assert parsed.text == '😀xy <اا" lpqs👍'
    assert parsed.entities == [
        {"type": "bold", "offset": 2, "length": 2},
        {"type": "italic", "offset": 3, "length": 1},
        {"type": "text_link", "offset": 10, "length": 1, "url": "https://e.x/?a=1&b=2"},
        {"type": "pre", "offset": 11, "length": 1, "language": "python"},
        {"type": "expandable_blockquote", "offset": 12, "length": 1},
        {"type": "spoiler", "offset": 13, "length": 1},
        {"type": "custom_emoji", "offset": 14, "length": 2, "custom_emoji_id": "5368324170671202286"},
    ]
    assert parse_telegram_html("AT&T", strict_ampersand=False).text == "AT&T"


@pytest.mark.parametrize("text", ["<b>x", "a < b", "<b>a</i>"])
async def test_bad_html_is_bad_request(bot: Bot, server: BotApiServer, text: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(42, text, parse_mode="HTML")
    assert server.sent == []


async def test_escaped_html_and_plain_text_accepted(bot: Bot, server: BotApiServer) -> None:
    message = await bot.send_message(42, html.escape("a < b & c > d"), parse_mode="HTML")
    assert message.text == "a < b & c > d"
    message = await bot.send_message(42, "a < b & c", parse_mode=None)
    assert message.text == "a < b & c"
    assert [s.message_id for s in server.sent] == [1, 2]


async def test_message_length_counts_utf16_after_parsing(bot: Bot, server: BotApiServer) -> None:
    await bot.send_message(42, "x" * 4096)
    await bot.send_message(42, "&lt;" * 4096, parse_mode="HTML")
    await bot.send_message(42, "😀" * 2048)
    for text in ("x" * 4097, "😀" * 2049):
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(42, text)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(42, "  <b> </b> ", parse_mode="HTML")
    assert utf16_len("😀") == 2
    assert len(server.sent) == 3


async def test_edit_not_modified_and_keyboard_removal(bot: Bot, server: BotApiServer) -> None:
    message = await bot.send_message(42, "one", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("one", 42, message.message_id, reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("<b>two</b>", 42, message.message_id, parse_mode="HTML")
    assert isinstance(edited, type(message)) and edited.reply_markup is None  # omitted markup removes it
    assert server.message(42, message.message_id)["text"] == "two"
    await bot.edit_message_reply_markup(42, message.message_id, reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(42, message.message_id, reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", 42, 999)
    assert [e.method for e in server.edits] == ["editMessageText", "editMessageReplyMarkup"]
    assert await bot.delete_message(42, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(42, message.message_id)


async def test_callback_data_too_long_rejected(bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(42, "x", reply_markup=markup)


# --------------------------------------------------------------------------- faults


async def test_injected_429_is_retry_after(bot: Bot, server: BotApiServer) -> None:
    server.inject("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(42, "x")
    assert info.value.retry_after == timedelta(seconds=7)  # a timedelta: PTB_TIMEDELTA=1 (tests/conftest.py)
    assert server.http_429 == 1
    await bot.send_message(42, "x")  # times=1: the next call succeeds


async def test_injected_errors_map_to_ptb_exceptions(bot: Bot, server: BotApiServer) -> None:
    server.inject("sendmessage", chat_id=43, status=403)
    await bot.send_message(42, "other chat is unaffected")
    with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
        await bot.send_message(43, "x")
    server.inject("sendMessage", migrate_to_chat_id=-1001234)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(-12, "x")
    assert info.value.new_chat_id == -1001234
    server.inject("*", status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.get_me()
    server.inject("getMe", delay=1.0)
    with pytest.raises(TimedOut):
        await bot.get_me(read_timeout=0.2)


async def test_block_makes_sends_forbidden(bot: Bot, server: BotApiServer) -> None:
    server.block(42)
    for _ in range(2):
        with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
            await bot.send_message(42, "x")
    server.block(-100777)
    with pytest.raises(Forbidden, match=r"(?i)kicked"):
        await bot.send_chat_action(-100777, "typing")
    server.unblock(42)
    await bot.send_message(42, "x")


async def test_unknown_method_and_wrong_token(bot: Bot, server: BotApiServer) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("fooBar")
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=server.base_url):
            pass


# --------------------------------------------------------------------------- users


async def test_callback_query_round_trip(server: BotApiServer) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("page 1", reply_markup=KEYBOARD)

    async def on_click(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.from_user.language_code == "en"
        await query.answer(f"got {query.data}")
        await query.edit_message_text("page 2")

    app = build_app(server)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_click))

    async def body() -> None:
        server.user_sends("/start", user_id=77)
        [page] = await server.wait_for_sent(1, chat_id=77)
        with pytest.raises(ValueError, match="no inline button"):
            server.user_clicks("prev", message=page)
        server.user_clicks("next", message=page, language_code="en")
        await eventually(lambda: bool(server.edits))

    await run_polling(server, app, body)
    [answer] = server.callback_answers
    assert answer.text == "got next" and not answer.show_alert
    [edit] = server.edits
    assert (edit.chat_id, edit.text, edit.reply_markup) == (77, "page 2", None)
    assert server.message(77, edit.message_id)["text"] == "page 2"


async def test_callback_answered_twice_is_bad_request(bot: Bot, server: BotApiServer) -> None:
    message = await bot.send_message(42, "x", reply_markup=KEYBOARD)
    [sent] = server.sent
    update = server.user_clicks("next", message=sent)
    assert update["callback_query"]["message"]["message_id"] == message.message_id
    await bot.answer_callback_query(update["callback_query"]["id"])
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(update["callback_query"]["id"])


async def test_long_polling_returns_promptly(bot: Bot, server: BotApiServer) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 2.0

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    server.user_sends("مرحبا /start")
    updates = await poll
    assert time.monotonic() - started < 0.5
    assert [u.message.text for u in updates if u.message] == ["مرحبا /start"]
    assert updates[0].message is not None and not updates[0].message.entities  # command not at start

    server.user_sends("/help")
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id, updates[0].update_id + 1]
    confirmed = await bot.get_updates(offset=again[-1].update_id + 1, timeout=0)
    assert confirmed == ()


async def test_second_poller_terminates_first_with_conflict(bot: Bot, server: BotApiServer) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    async with Bot(TOKEN, base_url=server.base_url) as other_instance:
        started = time.monotonic()
        second = asyncio.create_task(other_instance.get_updates(timeout=1))
        with pytest.raises(Conflict):
            await first
        assert time.monotonic() - started < 0.5
        server.user_sends("hi")
        assert len(await second) == 1


async def test_reset_keeps_a_pending_long_poll_alive(bot: Bot, server: BotApiServer) -> None:
    server.user_sends("old")
    poll = asyncio.create_task(bot.get_updates(offset=2, timeout=3))
    await asyncio.sleep(0.1)
    server.reset()
    await asyncio.sleep(0.1)
    update = server.user_sends("new")
    assert [u.update_id for u in await poll] == [update["update_id"]] == [2]


async def test_command_entity_uses_utf16_units(server: BotApiServer) -> None:
    update = server.user_sends("/start@khulasa_test_bot بحث")
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 23}]
    assert update["message"]["from"]["language_code"] == "ar"
    raw = server.add_raw_update({"message": update["message"]})
    assert raw["update_id"] == update["update_id"] + 1


async def test_chat_members_chat_and_commands(bot: Bot, server: BotApiServer) -> None:
    assert isinstance(await bot.get_chat_member(-100, ADMIN_ID), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(-100, 8), ChatMemberMember)
    admins = await bot.get_chat_administrators(-100)
    assert [a.user.id for a in admins] == [ADMIN_ID]
    chat = await bot.get_chat(-1001234567890)
    assert chat.type == "supergroup"

    scope = BotCommandScopeAllPrivateChats()
    commands = [BotCommand("start", "ابدأ"), BotCommand("help", "مساعدة")]
    await bot.set_my_commands(commands, scope=scope, language_code="ar")
    assert [c["command"] for c in server.commands[("all_private_chats", "ar")]] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(scope=scope, language_code="ar")] == ["start", "help"]
    assert await bot.get_my_commands() == ()
    await bot.delete_my_commands(scope=scope, language_code="ar")
    assert server.commands == {}
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start", "x")])
    assert await bot.send_chat_action(42, "typing")
    assert (await bot.get_webhook_info()).url == ""


# --------------------------------------------------------------------------- rate limits


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_rate_limits_global_and_per_chat() -> None:
    async with BotApiServer(TOKEN, enforce_limits=True) as server:
        request = HTTPXRequest(connection_pool_size=64, pool_timeout=5.0)
        async with Bot(TOKEN, base_url=server.base_url, request=request) as bot:
            results = await asyncio.gather(
                *(bot.send_message(1000 + i, "x") for i in range(31)), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            assert len(errors) == 1 and isinstance(errors[0], RetryAfter)
            assert errors[0].retry_after >= timedelta(seconds=1)
            assert server.http_429 == 1 and len(server.sent) == 30

            server.reset()
            await bot.send_message(5, "first")
            with pytest.raises(RetryAfter):
                await bot.send_message(5, "second within a second")
            await bot.send_message(6, "another chat is fine")
            await asyncio.sleep(1.05)
            await bot.send_message(5, "after a second")
            assert server.stats()["http_429"] == 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_rate_limit_per_group_per_minute() -> None:
    server = BotApiServer(TOKEN, enforce_limits=True, per_chat_per_s=100)
    async with server, Bot(TOKEN, base_url=server.base_url) as bot:
        for i in range(20):
            await bot.send_message(-100123, f"m{i}")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(-100123, "m20")
        assert timedelta(seconds=55) <= info.value.retry_after <= timedelta(seconds=60)
        await bot.send_message(42, "private chats are not limited per minute")


async def test_limits_off_by_default(bot: Bot, server: BotApiServer) -> None:
    await asyncio.gather(*(bot.send_message(5, str(i)) for i in range(40)))
    assert server.http_429 == 0 and len(await server.wait_for_sent(40, chat_id=5)) == 40


# --------------------------------------------------------------------------- control API


async def test_control_api_in_process_via_sync_client(server: BotApiServer, bot: Bot) -> None:
    control = BotApiControl(server.base_url)
    try:
        await asyncio.to_thread(control.user_sends, "/start", user_id=9)
        [update] = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.text == "/start"
        await asyncio.to_thread(control.inject, "sendMessage", status=403)
        with pytest.raises(Forbidden):
            await bot.send_message(9, "x")
        await bot.send_message(9, "hello", reply_markup=KEYBOARD)
        [sent] = await asyncio.to_thread(control.wait_for_sent, 1, 9, 2.0)
        assert sent["text"] == "hello" and sent["message_id"] == 2
        await asyncio.to_thread(control.user_clicks, "next", chat_id=9, message_id=2)
        stats = await asyncio.to_thread(control.stats)
        assert stats["sent"] == 1 and stats["pending_updates"] == 2
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(control.wait_for_sent, 5, None, 0.2)
        await asyncio.to_thread(control.reset)
        assert server.sent == [] and server.requests == []
    finally:
        control.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_separate_process_with_control_client() -> None:
    with BotApiProcess("--enforce-limits", "--admin", "7") as proc:
        assert proc.control is not None
        proc.control.user_sends("/start", user_id=5)
        async with Bot(TOKEN, base_url=proc.base_url) as bot:
            [update] = await bot.get_updates(timeout=1)
            assert update.message is not None and update.message.chat.id == 5
            await bot.send_message(5, "hi")
            with pytest.raises(RetryAfter):
                await bot.send_message(5, "too fast")
            assert isinstance(await bot.get_chat_member(-1, 7), ChatMemberAdministrator)
        assert [m["text"] for m in proc.control.wait_for_sent(1, chat_id=5)] == ["hi"]
        assert proc.control.stats()["http_429"] == 1
        assert [r["method"] for r in proc.control.requests("sendMessage")] == ["sendMessage"] * 2
