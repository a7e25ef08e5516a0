"""/follow, /unfollow and the follow/unfollow buttons."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity, Update

from handlers.common import (
    callback_data,
    followed_topics,
    key_from_callback,
    may_change_follows,
    remember_chat,
    topic_buttons,
    topics_listing,
)
from handlers.context import Context, forum_thread, language
from handlers.texts import t
from news.topics import (
    KEYWORD_MAX_CHARS,
    KEYWORD_MAX_WORDS,
    Topic,
    example_topics,
    keyword_topic,
    parse_topic,
    suggest,
    topic_from_key,
)
from storage import articles, subscribers

MAX_TOPIC_CHARS = 100
SUGGESTED_EACH = 3  # buttons for the most followed topics, and as many for the most active this week
ACTIVE_DAYS = 7
BUTTON_QUERY_CHARS = 30  # the query is cut to this length inside a button label
# "f:kw:" follows, as a keyword, the query quoted in the first <code> of the message the button is on:
# no user text goes into callback data (64 bytes), and nothing is kept in memory between the two steps.
KEYWORD_FROM_MESSAGE = "kw:"
POPULAR_MARK, ACTIVE_MARK = "⭐", "🔥"
_TAG = re.compile(r"<[^>]*>")


async def _follow_topic(update: Update, context: Context, topic: Topic) -> str:
    """Follow a topic for the chat (a keyword with its label) and return the reply text."""
    chat = update.effective_chat
    assert chat is not None
    lang = language(update)
    name = html.escape(topic.name(lang), quote=False)
    keyword = not topic.entities
    settings = context.bot_data.config
    async with context.bot_data.db.begin() as session:
        following = await subscribers.topics_of(session, chat.id)
        if topic.key in following:
            return t("already_following", lang, name=name)
        if len(following) >= settings.max_topics_per_chat:
            return t("too_many_topics", lang, limit=settings.max_topics_per_chat)
        await subscribers.follow(session, chat.id, topic.key, label=topic.name_ar if keyword else None)
        if chat.is_forum:  # pushes go to the forum thread the topic was followed in
            await subscribers.set_thread(session, chat.id, forum_thread(update.effective_message))
    return t("followed_keyword" if keyword else "followed", lang, name=name)


def _unknown_reply(query: str, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """For a query that names no known topic: "did you mean" buttons and, when it can be one, a keyword button.

    The query is the message's first <code> entity, which the keyword button reads back.
    """
    suggestions = suggest(query)
    keyword = keyword_topic(query)
    lines = [t("follow_unknown", lang, query=html.escape(query, quote=False))]
    if suggestions:
        lines.append(t("did_you_mean", lang))
    if keyword is not None:
        lines.append(t("follow_as_keyword", lang))
    elif len(query.split()) > KEYWORD_MAX_WORDS or len(query) > KEYWORD_MAX_CHARS:
        lines.append(t("keyword_too_long", lang, words=KEYWORD_MAX_WORDS, chars=KEYWORD_MAX_CHARS))
    if not suggestions and keyword is None:
        lines.append(t("follow_examples", lang))
        suggestions = example_topics()
    markup = topic_buttons(suggestions, lang)
    rows = list(markup.inline_keyboard) if markup else []
    if keyword is not None:
        shown = query if len(query) <= BUTTON_QUERY_CHARS else query[: BUTTON_QUERY_CHARS - 1] + "…"
        label = t("keyword_button", lang, query=shown)
        rows.append((InlineKeyboardButton(label, callback_data=callback_data("f", KEYWORD_FROM_MESSAGE)),))
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


async def _suggestions(context: Context, chat_id: int, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /follow reply without a topic: the most followed and the most active topics this week.

    Keywords are never suggested (they would show what other chats follow); topics the chat follows are
    left out; with nothing to go on (a new database) the example topics are offered.
    """
    since = datetime.now(UTC) - timedelta(days=ACTIVE_DAYS)
    async with context.bot_data.db() as session:
        following = set(await subscribers.topics_of(session, chat_id))
        popular = await subscribers.popular_topics(session, limit=SUGGESTED_EACH + len(following) + 20)
        active = await articles.active_topics(session, since, limit=SUGGESTED_EACH + len(following) + 1)
    chosen: list[Topic] = []
    marks: dict[str, str] = {}
    for keys, mark in ((popular, POPULAR_MARK), (active, ACTIVE_MARK)):
        taken = 0
        for key in keys:
            topic = None if key.startswith("kw:") or key in following or key in marks else topic_from_key(key)
            if topic is not None and taken < SUGGESTED_EACH:
                chosen.append(topic)
                marks[key] = mark
                taken += 1
    if not chosen:
        return t("follow_empty", lang), topic_buttons(example_topics(), lang)
    text = f"{t('follow_empty', lang)}\n{t('suggestions_legend', lang)}"
    return text, topic_buttons(chosen, lang, marks=marks)


async def follow(update: Update, context: Context) -> None:
    """Follow the topic given after the command, or offer suggestions."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    await remember_chat(update, context)
    if not await may_change_follows(update, context):
        await message.reply_text(t("group_admins_only", lang))
        return
    query = " ".join(context.args or []).strip()
    if not query:
        text, buttons = await _suggestions(context, chat.id, lang)
        await message.reply_text(text, reply_markup=buttons)
        return
    if len(query) > MAX_TOPIC_CHARS:
        await message.reply_text(t("topic_too_long", lang, limit=MAX_TOPIC_CHARS))
        return
    topic = parse_topic(query)
    if topic is None:
        text, buttons = _unknown_reply(query, lang)
        await message.reply_text(text, reply_markup=buttons)
        return
    await message.reply_text(await _follow_topic(update, context, topic))


async def unfollow(update: Update, context: Context) -> None:
    """Stop following the topic (or keyword) given after the command."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    if not await may_change_follows(update, context):
        await message.reply_text(t("group_admins_only", lang))
        return
    query = " ".join(context.args or []).strip()
    topic = None
    if query and len(query) <= MAX_TOPIC_CHARS:
        topic = parse_topic(query) or keyword_topic(query)
    if topic is None:
        await message.reply_text(t("unfollow_empty", lang))
        return
    async with context.bot_data.db.begin() as session:
        removed = await subscribers.unfollow(session, chat.id, topic.key)
    name = html.escape(topic.name(lang), quote=False)
    await message.reply_text(t("unfollowed" if removed else "not_following", lang, name=name))


def _quoted_query(message: object) -> str | None:
    """The query a keyword button stands for: the first <code> of the bot message it is attached to.

    None when the message is too old for Telegram to send back, or carries no keyword button (forged data).
    """
    if not isinstance(message, Message) or message.reply_markup is None:
        return None
    keyword_data = callback_data("f", KEYWORD_FROM_MESSAGE)
    if all(b.callback_data != keyword_data for row in message.reply_markup.inline_keyboard for b in row):
        return None
    codes = sorted((e for e in message.entities if e.type == MessageEntity.CODE), key=lambda e: e.offset)
    return message.parse_entity(codes[0]) if codes else None


def _plain(text: str) -> str:
    """A reply text without its HTML, for callback answers (shown as plain text, ≤ 200 characters)."""
    return html.unescape(_TAG.sub("", text))[:200]


async def on_button(update: Update, context: Context) -> None:
    """Follow ("f:<key>", "f:kw:" for the keyword in the message) or unfollow ("u:<key>") from a button."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    lang = language(update)
    action, _, key = (query.data or "").partition(":")
    if action not in ("f", "u"):
        await query.answer(t("button_stale", lang))
        return
    if not await may_change_follows(update, context):
        await query.answer(t("group_admins_only", lang), show_alert=True)
        return
    await remember_chat(update, context)
    if action == "f":
        if key == KEYWORD_FROM_MESSAGE:
            quoted = _quoted_query(query.message)
            topic = keyword_topic(quoted) if quoted else None
        else:
            topic = topic_from_key(key)
        if topic is None:
            await query.answer(t("button_stale", lang))
            return
        text = await _follow_topic(update, context, topic)
        await query.answer()
        await context.bot.send_message(chat.id, text, message_thread_id=forum_thread(query.message))
        return
    await _unfollow_button(update, context, key)


async def _unfollow_button(update: Update, context: Context, key: str) -> None:
    """Unfollow from a /topics button and redraw the list in place."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    lang = language(update)
    async with context.bot_data.db.begin() as session:
        rows = await subscribers.follows_of(session, chat.id)
        found = key_from_callback(key, (k for k, _ in rows))
        labels = dict(rows)
        topic = topic_from_key(found, label=labels.get(found)) if found else None
        removed = topic is not None and await subscribers.unfollow(session, chat.id, topic.key)
        remaining = [row for row in rows if row[0] != found]
    if topic is None:
        await query.answer(t("button_stale", lang))
        return
    name = html.escape(topic.name(lang), quote=False)
    done = t("unfollowed" if removed else "not_following", lang, name=name)
    await query.answer(_plain(done))
    if isinstance(query.message, Message):
        listing, buttons = topics_listing(followed_topics(remaining), lang)
        await query.edit_message_text(f"{done}\n\n{listing}", reply_markup=buttons)
