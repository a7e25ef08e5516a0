"""/start and /help."""

from __future__ import annotations

from telegram import Update

from handlers.common import remember_chat, topic_buttons
from handlers.context import Context, language
from handlers.texts import t
from news.topics import example_topics


async def start(update: Update, context: Context) -> None:
    """Welcome the user, say what the bot does and offer example topics."""
    await remember_chat(update, context)
    lang = language(update)
    message = update.effective_message
    if message is not None:
        await message.reply_text(t("welcome", lang), reply_markup=topic_buttons(example_topics(), lang))


async def help_command(update: Update, context: Context) -> None:
    """List the commands with examples."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(t("help", language(update)))
