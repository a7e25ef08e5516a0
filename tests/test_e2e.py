"""End to end: the real `python bot.py` process, a loopback Bot API, a loopback feed server, a real database.

A user follows Iran–Russia → the feed gains an Iran–Russia item → exactly one push arrives; an Iran-only item
is not pushed; the bot restarts → nothing is pushed again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.feedgen import IRAN_ONLY, WEATHER, Item, rss, seed_article
from tests.support.botapi import BotApiServer
from tests.support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
USER = 5550001


def start_bot(server: BotApiServer, feeds: FeedServer, workdir: Path) -> subprocess.Popen[bytes]:
    """Run `python bot.py` in a clean working directory with only environment settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TELEGRAM_", "FEEDS", "DATABASE_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=server.token,
        TELEGRAM_API_BASE_URL=server.base_url,
        FEEDS=f"Test News|{feeds.url('/feed.xml')}",
        DATABASE_URL=f"sqlite:///{workdir / 'data' / 'khulasa.db'}",
        POLL_INTERVAL_SECONDS="1",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    log = (workdir / "bot.log").open("ab")
    return subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=workdir, env=env, stdout=log, stderr=log)


async def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop the bot process and wait for it, keeping this event loop (and so the loopback servers) running."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


async def wait_for_polls(feeds: FeedServer, count: int, timeout: float = 30) -> None:
    """Wait until the feed has been requested `count` more times."""
    target = len(feeds.requests_to("/feed.xml")) + count
    deadline = time.monotonic() + timeout
    while len(feeds.requests_to("/feed.xml")) < target:
        assert time.monotonic() < deadline, "the bot stopped polling the feed"
        await asyncio.sleep(0.1)


async def test_follow_push_once_and_never_again_after_restart(tmp_path: Path) -> None:
    title, body = seed_article()
    weather = Item("weather-1", *WEATHER)
    async with BotApiServer() as server, FeedServer() as feeds:
        feeds.add("/feed.xml", rss([weather]), headers={"Content-Type": "application/rss+xml; charset=utf-8"})
        bot = start_bot(server, feeds, tmp_path)
        try:
            server.user_sends("/start", user_id=USER)
            server.user_sends("/follow Iran–Russia", user_id=USER)
            replies = await server.wait_for_sent(2, chat_id=USER, timeout=30)
            assert "روسيا" in replies[1].plain_text and "✅" in replies[1].plain_text
            await wait_for_polls(feeds, 1)  # the first fetch stores history and pushes nothing

            feeds.add(
                "/feed.xml",
                rss([Item("iran-russia-1", title, body), Item("iran-only-1", *IRAN_ONLY), weather]),
                headers={"Content-Type": "application/rss+xml; charset=utf-8"},
            )
            pushes = await server.wait_for_sent(3, chat_id=USER, timeout=30)
            push = pushes[2]
            assert title.split(":")[0] in push.plain_text
            assert "زر الذهاب" not in push.plain_text and "تابع ميدل" not in push.plain_text
            assert "Test News" in push.plain_text
            await wait_for_polls(feeds, 3)
            assert len(server.sent_to(USER)) == 3, "an Iran-only story or a second copy was pushed"
        finally:
            await stop(bot)
        assert bot.returncode == 0, (tmp_path / "bot.log").read_text()

        bot = start_bot(server, feeds, tmp_path)
        try:
            await wait_for_polls(feeds, 3)
            assert len(server.sent_to(USER)) == 3, "something was pushed again after the restart"
            server.user_sends("/latest", user_id=USER)
            latest = (await server.wait_for_sent(4, chat_id=USER, timeout=30))[3]
            assert title.split(":")[0] in latest.plain_text and "Test News" in latest.plain_text
            assert IRAN_ONLY[0] not in latest.plain_text
        finally:
            await stop(bot)
        log = (tmp_path / "bot.log").read_text()
        assert "Traceback" not in log, log
