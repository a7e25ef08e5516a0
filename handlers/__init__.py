"""Telegram handlers, one module per group of commands; `ALL` lists them in registration order."""

from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers import admin, browse, fallback, follow, settings, start

# Reader commands work in channels too, where they arrive as channel posts (CommandHandler's default filter,
# filters.UpdateType.MESSAGES, takes messages and edited messages only).
ANYWHERE = filters.UpdateType.MESSAGES | filters.UpdateType.CHANNEL_POST

ALL: tuple[BaseHandler, ...] = (
    CommandHandler("start", start.start, filters=ANYWHERE),
    CommandHandler("help", start.help_command, filters=ANYWHERE),
    CommandHandler("follow", follow.follow, filters=ANYWHERE),
    CommandHandler("unfollow", follow.unfollow, filters=ANYWHERE),
    CommandHandler("topics", browse.topics, filters=ANYWHERE),
    CommandHandler("latest", browse.latest, filters=ANYWHERE),
    CommandHandler("settings", settings.settings, filters=ANYWHERE),
    CommandHandler("feeds", admin.feeds),
    CommandHandler("stats", admin.stats),
    CallbackQueryHandler(follow.on_button, pattern=r"^[fu]:"),
    CallbackQueryHandler(settings.on_button, pattern=r"^s:"),
    MessageHandler(filters.COMMAND, fallback.unknown_command),
    MessageHandler(filters.TEXT & ~filters.COMMAND, fallback.free_text),
)
