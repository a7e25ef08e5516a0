"""Telegram handlers, one module per group of commands; `ALL` lists them in registration order."""

from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers import admin, browse, fallback, follow, start

ALL: tuple[BaseHandler, ...] = (
    CommandHandler("start", start.start),
    CommandHandler("help", start.help_command),
    CommandHandler("follow", follow.follow),
    CommandHandler("unfollow", follow.unfollow),
    CommandHandler("topics", browse.topics),
    CommandHandler("latest", browse.latest),
    CommandHandler("feeds", admin.feeds),
    CommandHandler("stats", admin.stats),
    CallbackQueryHandler(follow.on_button, pattern=r"^[fu]:"),
    MessageHandler(filters.COMMAND, fallback.unknown_command),
    MessageHandler(filters.TEXT & ~filters.COMMAND, fallback.free_text),
)
