"""/topics and /latest."""

from __future__ import annotations

from telegram import Update

from handlers.common import followed_topics, topics_listing
from handlers.context import Context, language
from handlers.texts import t
from news.render import render_digest
from storage import articles, subscribers

LATEST_COUNT = 5


async def topics(update: Update, context: Context) -> None:
    """List the chat's topics with a button to unfollow each."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    async with context.bot_data.db() as session:
        rows = await subscribers.follows_of(session, chat.id)
    text, buttons = topics_listing(followed_topics(rows), lang)
    await message.reply_text(text, reply_markup=buttons)


async def latest(update: Update, context: Context) -> None:
    """Reply with the latest stories on the chat's topics, or overall when it follows none."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    settings = context.bot_data.config
    async with context.bot_data.db() as session:
        keys = await subscribers.topics_of(session, chat.id)
        stories = await articles.latest(session, keys or None, limit=LATEST_COUNT)
        zone = (await subscribers.preferences_of(session, chat.id)).timezone or settings.default_timezone
    if not stories:
        await message.reply_text(t("latest_none", lang))
        return
    for text in render_digest(stories, header=t("latest_header", lang), lang=lang, tz=zone):
        await message.reply_text(text)
