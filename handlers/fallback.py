"""Replies to unknown commands and free text."""

from __future__ import annotations

import html

from telegram import Update

from handlers.context import Context, language
from handlers.texts import t


def addressed_to_bot(text: str, chat_type: str, username: str) -> bool:
    """Whether a command is meant for this bot: any command in a private chat; elsewhere (where other bots read
    the same messages) only `/command@this_bot`."""
    command = text.split(maxsplit=1)[0] if text.strip() else ""
    _, at, target = command.partition("@")
    if at:
        return target.lower() == username.lower()
    return chat_type == "private"


async def unknown_command(update: Update, context: Context) -> None:
    """Point to /help, unless the command is another bot's."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if addressed_to_bot(message.text or "", chat.type, context.bot.username or ""):
        await message.reply_text(t("unknown_command", language(update)))


async def free_text(update: Update, context: Context) -> None:
    """In private chats, suggest following what the user wrote."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or chat.type != "private":
        return
    text = " ".join((message.text or "").split())[:60] or "إيران روسيا"
    await message.reply_text(t("free_text", language(update), text=html.escape(text, quote=False)))
