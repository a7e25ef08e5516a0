"""Telegram handlers, one module per group of commands; `ALL` lists them in registration order."""

from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers import admin, browse, fallback, follow, settings, start

# Reader commands work in channels too, where they arrive as channel posts. Edited messages are left out:
# editing an old "/follow X" must not run it again (CommandHandler's default, UpdateType.MESSAGES, takes both).
ANYWHERE = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
NEW_MESSAGE = filters.UpdateType.MESSAGE

ALL: tuple[BaseHandler, ...] = (
    CommandHandler("start", start.start, filters=ANYWHERE),
    CommandHandler("help", start.help_command, filters=ANYWHERE),
    CommandHandler("follow", follow.follow, filters=ANYWHERE),
    CommandHandler("unfollow", follow.unfollow, filters=ANYWHERE),
    CommandHandler("topics", browse.topics, filters=ANYWHERE),
    CommandHandler("latest", browse.latest, filters=ANYWHERE),
    CommandHandler("settings", settings.settings, filters=ANYWHERE),
    CommandHandler("feeds", admin.feeds, filters=NEW_MESSAGE),
    CommandHandler("stats", admin.stats, filters=NEW_MESSAGE),
    CallbackQueryHandler(follow.on_button, pattern=r"^[fu]:"),
    CallbackQueryHandler(settings.on_button, pattern=r"^s:"),
    MessageHandler(NEW_MESSAGE & filters.COMMAND, fallback.unknown_command),
    MessageHandler(NEW_MESSAGE & filters.TEXT & ~filters.COMMAND, fallback.free_text),
)
