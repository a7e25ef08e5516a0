"""A real Application (python-telegram-bot) talking to the loopback Bot API server, on a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from telegram.ext import Application

from bot import build_application, post_init, post_shutdown
from settings import Settings
from tests.support.botapi import BotApiServer

ADMIN = 42


@dataclass
class RunningBot:
    """The fake server and the application running against it."""

    server: BotApiServer
    app: Application
    settings: Settings


def make_settings(server: BotApiServer, tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test bot: the loopback Bot API, a temporary SQLite file, no feeds unless given."""
    values: dict[str, object] = {
        "telegram_bot_token": server.token,
        "telegram_api_base_url": server.base_url,
        "database_url": f"sqlite:///{tmp_path / 'bot.db'}",
        "admin_ids": str(ADMIN),
        "poll_interval_seconds": 1,
        "allow_private_urls": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def start_bot(settings: Settings) -> Application:
    """Initialise and start an application the way run_polling does, without blocking."""
    app = build_application(settings)
    await app.initialize()
    await post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    await app.start()
    return app


async def stop_bot(app: Application) -> None:
    """Stop an application started by start_bot."""
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await post_shutdown(app)
    await app.shutdown()


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[RunningBot]:
    """A running bot with no feeds."""
    async with BotApiServer(admin_ids=[ADMIN]) as server:
        settings = make_settings(server, tmp_path)
        app = await start_bot(settings)
        try:
            yield RunningBot(server, app, settings)
        finally:
            await stop_bot(app)
