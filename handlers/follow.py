"""/follow, /unfollow and the follow/unfollow buttons."""

from __future__ import annotations

import html

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from handlers.context import Context, language
from handlers.start import remember_chat, topic_buttons
from handlers.texts import t
from news.topics import Topic, example_topics, parse_topic, suggest, topic_from_key
from storage import subscribers

MAX_TOPIC_CHARS = 100


async def may_change_follows(update: Update, context: Context) -> bool:
    """In groups only chat admins may change follows; private chats and channels always may."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return True
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        return False
    return member.status in ("creator", "administrator")


async def _follow_topic(update: Update, context: Context, topic: Topic) -> str:
    """Follow a topic for the chat and return the reply text."""
    chat = update.effective_chat
    assert chat is not None
    lang = language(update)
    name = html.escape(topic.name(lang), quote=False)
    settings = context.bot_data.config
    async with context.bot_data.db.begin() as session:
        following = await subscribers.topics_of(session, chat.id)
        if topic.key in following:
            return t("already_following", lang, name=name)
        if len(following) >= settings.max_topics_per_chat:
            return t("too_many_topics", lang, limit=settings.max_topics_per_chat)
        await subscribers.follow(session, chat.id, topic.key)
    return t("followed", lang, name=name)


async def follow(update: Update, context: Context) -> None:
    """Follow the topic given after the command, or offer suggestions."""
    message = update.effective_message
    if message is None:
        return
    lang = language(update)
    await remember_chat(update, context)
    if not await may_change_follows(update, context):
        await message.reply_text(t("group_admins_only", lang))
        return
    query = " ".join(context.args or []).strip()
    if not query:
        await message.reply_text(t("follow_empty", lang), reply_markup=topic_buttons(example_topics(), lang))
        return
    if len(query) > MAX_TOPIC_CHARS:
        await message.reply_text(t("topic_too_long", lang, limit=MAX_TOPIC_CHARS))
        return
    topic = parse_topic(query)
    if topic is None:
        text = t("follow_unknown", lang, query=html.escape(query, quote=False))
        suggestions = suggest(query)
        if suggestions:
            text += "\n" + t("did_you_mean", lang)
        await message.reply_text(text, reply_markup=topic_buttons(suggestions or example_topics(), lang))
        return
    await message.reply_text(await _follow_topic(update, context, topic))


async def unfollow(update: Update, context: Context) -> None:
    """Stop following the topic given after the command."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    if not await may_change_follows(update, context):
        await message.reply_text(t("group_admins_only", lang))
        return
    query = " ".join(context.args or []).strip()
    topic = parse_topic(query) if query and len(query) <= MAX_TOPIC_CHARS else None
    if topic is None:
        await message.reply_text(t("unfollow_empty", lang))
        return
    async with context.bot_data.db.begin() as session:
        removed = await subscribers.unfollow(session, chat.id, topic.key)
    name = html.escape(topic.name(lang), quote=False)
    await message.reply_text(t("unfollowed" if removed else "not_following", lang, name=name))


async def on_button(update: Update, context: Context) -> None:
    """Follow ("f:<key>") or unfollow ("u:<key>") from an inline button."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    lang = language(update)
    action, _, key = (query.data or "").partition(":")
    topic = topic_from_key(key)
    if topic is None or action not in ("f", "u"):
        await query.answer(t("button_stale", lang))
        return
    if not await may_change_follows(update, context):
        await query.answer(t("group_admins_only", lang), show_alert=True)
        return
    await remember_chat(update, context)
    if action == "f":
        text = await _follow_topic(update, context, topic)
        await query.answer()
        if query.message is not None:
            await context.bot.send_message(chat.id, text)
        return
    async with context.bot_data.db.begin() as session:
        removed = await subscribers.unfollow(session, chat.id, topic.key)
        remaining = await subscribers.topics_of(session, chat.id)
    name = html.escape(topic.name(lang), quote=False)
    await query.answer(t("unfollowed" if removed else "not_following", lang, name=topic.name(lang))[:200])
    topics = [found for key in remaining if (found := topic_from_key(key)) is not None]
    if query.message is not None:
        text = t("topics_list", lang) if topics else t("topics_none", lang)
        await query.edit_message_text(
            f"{t('unfollowed', lang, name=name)}\n\n{text}", reply_markup=topic_buttons(topics, lang, "u")
        )
