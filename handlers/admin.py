"""Admin commands: /feeds (feed health) and /stats."""

from __future__ import annotations

import html
from datetime import timedelta

from telegram import Message, Update

from handlers.context import Context, language
from handlers.texts import t
from storage.db import utcnow
from storage.reports import feeds_report, stats_report


def is_admin(update: Update, context: Context) -> bool:
    """Whether the user is listed in ADMIN_IDS."""
    user = update.effective_user
    return user is not None and user.id in context.bot_data.config.admin_ids


async def _admin_message(update: Update, context: Context) -> Message | None:
    """The message to answer when an admin sent it; others get a polite refusal and None."""
    message = update.effective_message
    if message is None:
        return None
    if not is_admin(update, context):
        await message.reply_text(t("admins_only", language(update)))
        return None
    return message


async def feeds(update: Update, context: Context) -> None:
    """Each feed with status, last success, articles in the last 24 h and last error."""
    message = await _admin_message(update, context)
    if message is None:
        return
    async with context.bot_data.db() as session:
        lines = await feeds_report(session, since=utcnow() - timedelta(hours=24))
    text = html.escape("\n".join(lines))  # feed names, URLs ("&") and error reasons are not HTML
    if len(text) > 4000:
        text = text[: text.rfind("\n", 0, 4000)]  # whole lines only, so no entity is cut in half
    await message.reply_text("<pre>" + text + "</pre>")


async def stats(update: Update, context: Context) -> None:
    """Subscribers, follows, stories today and deliveries by status."""
    message = await _admin_message(update, context)
    if message is None:
        return
    async with context.bot_data.db() as session:
        lines = await stats_report(session, since=utcnow() - timedelta(hours=24))
    await message.reply_text("<pre>" + "\n".join(lines) + "</pre>")
