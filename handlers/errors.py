"""The one error handler: log first, then apologise politely; never re-raise."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError

from handlers.context import Context, language
from handlers.texts import t

log = logging.getLogger(__name__)


async def error_handler(update: object, context: Context) -> None:
    """Log the error before anything else, so it is seen even if replying fails too."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    if update.callback_query is not None:  # stop the button's spinner, whatever happened before
        try:
            await update.callback_query.answer(t("error", language(update))[:200])
        except TelegramError:
            log.debug("the button was already answered or is too old", exc_info=True)
        return
    if update.effective_message is None or isinstance(context.error, Forbidden):
        return
    try:
        await update.effective_message.reply_text(t("error", language(update)))
    except TelegramError:
        log.warning("could not send the apology either", exc_info=True)
