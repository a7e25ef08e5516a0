"""Replies to unknown commands and free text."""

from __future__ import annotations

import html

from telegram import Update

from handlers.context import Context, language
from handlers.texts import t


async def unknown_command(update: Update, context: Context) -> None:
    """Point to /help."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(t("unknown_command", language(update)))


async def free_text(update: Update, context: Context) -> None:
    """In private chats, suggest following what the user wrote."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or chat.type != "private":
        return
    text = " ".join((message.text or "").split())[:60] or "إيران روسيا"
    await message.reply_text(t("free_text", language(update), text=html.escape(text, quote=False)))
