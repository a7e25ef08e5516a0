"""/topics and /latest."""

from __future__ import annotations

import html

from telegram import Update

from handlers.context import Context, language
from handlers.start import topic_buttons
from handlers.texts import t
from news.render import render_digest
from news.topics import topic_from_key
from storage import articles, subscribers

LATEST_COUNT = 5


async def topics(update: Update, context: Context) -> None:
    """List the chat's topics with a button to unfollow each."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    async with context.bot_data.db() as session:
        keys = await subscribers.topics_of(session, chat.id)
    followed = [topic for key in keys if (topic := topic_from_key(key)) is not None]
    if not followed:
        await message.reply_text(t("topics_none", lang))
        return
    lines = [t("topics_list", lang)] + [f"• {html.escape(topic.name(lang), quote=False)}" for topic in followed]
    await message.reply_text("\n".join(lines), reply_markup=topic_buttons(followed, lang, "u"))


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
    if not stories:
        await message.reply_text(t("latest_none", lang))
        return
    for text in render_digest(stories, header=t("latest_header", lang), lang=lang, tz=settings.default_timezone):
        await message.reply_text(text)
