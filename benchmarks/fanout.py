"""Fan-out: N subscribers follow one topic and one matching story goes out to all of them.

The real Sender (outbox on a real SQLite database, paced bot) against the loopback Bot API server running as a
separate process with Telegram's limits enforced (30 messages in any second, 1 per second per chat, 20 per
minute per group), answering 429 beyond them. Reports the achieved rate as a fraction of the 30 msg/s limit
(first to last message, on the server's clock), the 429s received, duplicates and missing deliveries, and the
most messages the server saw in any 1-second window.

    python benchmarks/fanout.py                      # 10 000 subscribers (about six minutes)
    python benchmarks/fanout.py --subscribers 60     # a smoke run

Last line: one JSON object {"subscribers", "rate_msgs_per_s", "rate_fraction", "http_429", "duplicates", "missing"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from delivery import PacedRateLimiter, Pacer, Sender
from settings import Settings
from storage import outbox, subscribers
from storage.articles import Article, Entry, Story, StoryTopic
from storage.db import make_engine, make_sessionmaker, migrate
from storage.feeds import Feed
from tests.support.botapi import BotApiProcess

TOPIC = "iran"
FIRST_CHAT = 100_000_001


@dataclass(frozen=True)
class Result:
    """What one fan-out achieved."""

    subscribers: int
    sent: int
    seconds: float  # first to last message on the server's clock
    wall_seconds: float  # from the first drain to an empty outbox
    http_429: int
    duplicates: int
    missing: int
    max_per_second: int  # most messages in any 1-second window, on the server's clock
    statuses: dict[str, int]

    @property
    def rate(self) -> float:
        """Messages per second between the first and the last one."""
        return (self.sent - 1) / self.seconds if self.seconds > 0 else 0.0


async def seed(db: async_sessionmaker[AsyncSession], count: int) -> None:
    """`count` chats following TOPIC, one story on it with one outlet, queued for all of them (as refresh does)."""
    now = datetime.now(UTC)
    chats = range(FIRST_CHAT, FIRST_CHAT + count)
    async with db.begin() as session:
        rows = [
            {"chat_id": c, "chat_type": "private", "language": "ar", "created_at": now, "updated_at": now}
            for c in chats
        ]
        await session.execute(insert(subscribers.Subscriber), rows)
        await session.execute(
            insert(subscribers.Follow), [{"chat_id": c, "topic_key": TOPIC, "created_at": now} for c in chats]
        )
        feed = Feed(url="https://www.alriyadh.com/rss", name="الرياض")
        title = "بزشكيان: إيران وروسيا لديهما وجهات نظر متقاربة بشأن القضايا الإقليمية"
        digest = "أكد الرئيس الإيراني مسعود بزشكيان أهمية مواصلة التفاعل الإقليمي البناء بين إيران وروسيا."
        story = Story(title=title, digest=digest, published_at=now)
        session.add_all([feed, story])
        await session.flush()
        article = Article(
            story_id=story.id,
            content_hash="fanout",
            url="https://www.alriyadh.com/1",
            title=title,
            text=digest,
            digest=digest,
            published_at=now,
        )
        session.add_all([article, StoryTopic(story_id=story.id, topic_key=TOPIC)])
        await session.flush()
        session.add(Entry(feed_id=feed.id, key="1", article_id=article.id, url=article.url, published_at=now))
        followers = await subscribers.followers_of(session, [TOPIC])
        await outbox.enqueue(session, story.id, followers)


def most_in_a_second(times: list[float]) -> int:
    """The most messages in any 1-second window (two pointers over sorted times)."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def run(count: int, workdir: Path) -> Result:
    """Seed, start the server process, drain the outbox until it is empty, and measure."""
    engine = make_engine(f"sqlite+aiosqlite:///{workdir / 'fanout.db'}")
    await migrate(engine)
    db = make_sessionmaker(engine)
    await seed(db, count)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # the SEND_* defaults: Telegram's limits
    try:
        with BotApiProcess("--enforce-limits") as server:
            assert server.control is not None
            bot = ExtBot(
                server.token,
                base_url=server.base_url,
                request=HTTPXRequest(connection_pool_size=64),
                rate_limiter=PacedRateLimiter(Pacer.from_settings(settings)),
            )
            await bot.initialize()
            sender = Sender(settings, db)
            started = time.monotonic()
            while True:
                await sender.drain(bot, max_seconds=50)
                async with db() as session:
                    statuses = await outbox.counts(session)
                if not statuses.get("pending") and not statuses.get("sending"):
                    break
            wall = time.monotonic() - started
            await bot.shutdown()
            sent = await asyncio.to_thread(server.control.sent)
            http_429 = (await asyncio.to_thread(server.control.stats))["http_429"]
    finally:
        await engine.dispose()
    times = [message["time"] for message in sent]
    received = Counter(message["chat_id"] for message in sent)
    expected = set(range(FIRST_CHAT, FIRST_CHAT + count))
    return Result(
        subscribers=count,
        sent=len(sent),
        seconds=max(times) - min(times) if times else 0.0,
        wall_seconds=wall,
        http_429=http_429,
        duplicates=sum(n - 1 for n in received.values() if n > 1),
        missing=len(expected - set(received)),
        max_per_second=most_in_a_second(times),
        statuses=statuses,
    )


def report(result: Result) -> None:
    """The table, then the JSON line."""
    limit = 30.0
    rows = [
        ("subscribers", f"{result.subscribers}"),
        ("messages sent", f"{result.sent}"),
        ("first → last message", f"{result.seconds:.1f} s"),
        ("drain wall time", f"{result.wall_seconds:.1f} s"),
        ("rate", f"{result.rate:.2f} msg/s = {result.rate / limit:.1%} of {limit:g}"),
        ("most in any 1 s window", f"{result.max_per_second}"),
        ("HTTP 429 received", f"{result.http_429}"),
        ("duplicates", f"{result.duplicates}"),
        ("missing", f"{result.missing}"),
        ("outbox", ", ".join(f"{status} {n}" for status, n in sorted(result.statuses.items()))),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "subscribers": result.subscribers,
                "rate_msgs_per_s": round(result.rate, 2),
                "rate_fraction": round(result.rate / limit, 4),
                "http_429": result.http_429,
                "duplicates": result.duplicates,
                "missing": result.missing,
            }
        )
    )


def main() -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        report(asyncio.run(run(args.subscribers, Path(workdir))))


if __name__ == "__main__":
    main()
