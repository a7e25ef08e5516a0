"""Typed bot_data (services opened in post_init, closed in post_shutdown) and the context alias handlers use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Message, Update
from telegram.ext import CallbackContext, ContextTypes, ExtBot

from settings import Settings

if TYPE_CHECKING:
    from news.refresh import Refresher


@dataclass
class BotData:
    """Services shared by handlers and jobs; instantiable without arguments, filled in by bot.post_init."""

    settings: Settings | None = None
    engine: AsyncEngine | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    client: httpx.AsyncClient | None = None
    refresher: Refresher | None = None
    username: str = ""
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        """The sessionmaker (only valid after start-up)."""
        assert self.sessionmaker is not None, "bot_data used before post_init"
        return self.sessionmaker

    @property
    def config(self) -> Settings:
        """The settings (only valid after start-up)."""
        assert self.settings is not None, "bot_data used before post_init"
        return self.settings


Context = CallbackContext[ExtBot[None], dict, dict, BotData]
CONTEXT_TYPES = ContextTypes(context=CallbackContext, bot_data=BotData)


def language(update: Update) -> str:
    """'en' when the user's Telegram language is English, else 'ar' (Arabic first)."""
    user = update.effective_user
    code = (user.language_code or "") if user else ""
    return "en" if code.lower().startswith("en") else "ar"


def forum_thread(message: object) -> int | None:
    """The forum topic thread a message is in (None in a forum's General topic and outside forums)."""
    if isinstance(message, Message) and (message.is_topic_message or message.chat.is_forum):
        return message.message_thread_id
    return None
