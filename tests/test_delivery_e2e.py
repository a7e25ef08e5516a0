"""End to end in one process: two feeds carry the same story; the second appears after the push.

The reader gets one push; when the second outlet's copy arrives, the sent message is edited to list both
outlets, and nothing is pushed again.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.feedgen import WEATHER, Item, rss, seed_article
from tests.handlers.conftest import make_settings, start_bot, stop_bot
from tests.support.botapi import BotApiServer
from tests.support.feedserver import FeedServer

USER = 5550002
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


async def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_a_second_outlet_edits_the_pushed_message_and_never_pushes_again(tmp_path: Path) -> None:
    title, body = seed_article()
    weather = Item("weather-1", *WEATHER)
    async with BotApiServer() as server, FeedServer() as feeds:
        for path in ("/a.xml", "/b.xml"):
            feeds.add(path, rss([weather], base=f"http://{path[1]}.example"), headers=RSS)
        listed = f"Outlet Alpha|{feeds.url('/a.xml')},Outlet Beta|{feeds.url('/b.xml')}"
        app = await start_bot(make_settings(server, tmp_path, feeds=listed))
        try:
            server.user_sends("/follow Iran–Russia", user_id=USER)
            await server.wait_for_sent(1, chat_id=USER)
            await wait_for(lambda: all(feeds.requests_to(p) for p in ("/a.xml", "/b.xml")), 20, "first polls")

            story = Item("alpha-1", title, body, link="http://a.example/iran-russia")
            feeds.add("/a.xml", rss([story, weather], base="http://a.example"), headers=RSS)
            push = (await server.wait_for_sent(2, chat_id=USER, timeout=30))[1]
            assert "Outlet Alpha" in push.plain_text and "Outlet Beta" not in push.plain_text

            copy = Item("beta-7", title, body, link="http://b.example/news/7")
            feeds.add("/b.xml", rss([copy, weather], base="http://b.example"), headers=RSS)
            await wait_for(lambda: server.edits, 30, "the pushed message was not edited")
            current = server.message(USER, push.message_id)
            assert current is not None and "Outlet Alpha" in current["text"] and "Outlet Beta" in current["text"]
            polls = len(feeds.requests_to("/b.xml"))
            await wait_for(lambda: len(feeds.requests_to("/b.xml")) >= polls + 2, 20, "polling stopped")
        finally:
            await stop_bot(app)
    assert len(server.sent_to(USER)) == 2, "the story was pushed again"
    assert len(server.edits) == 1
