"""JobQueue callbacks: poll feeds, and drain the delivery outbox within Telegram's limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from handlers.context import Context
from news.models import StoryView
from news.render import render_story
from settings import Settings
from storage import articles, outbox, subscribers

log = logging.getLogger(__name__)

GONE_CHAT = ("chat not found", "user is deactivated", "bot was kicked", "not enough rights", "have no rights")


async def poll_feeds(context: Context) -> None:
    """Refresh the feeds that are due."""
    refresher = context.bot_data.refresher
    if refresher is None:
        return
    for report in await refresher.refresh_due():
        if report.error:
            log.warning("feed %s: %s", report.url, report.error)
        elif report.new:
            log.info("feed %s: %d new, %d stories, %d queued", report.url, report.new, report.stories, report.queued)


async def push_outbox(context: Context) -> None:
    """Send what is due in the outbox."""
    sender = context.bot_data.extras.get("sender")
    if isinstance(sender, Sender):
        await sender.drain(context.bot)


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter's wait in seconds (an int or a timedelta, depending on python-telegram-bot's settings)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass
class Pacer:
    """Keeps sends within Telegram's limits: N per any 1-second window, 1 per second per chat, M per minute per group.

    A send is admitted only when it fits every sliding window, so no window ever holds more than the limit
    (python-telegram-bot's AIORateLimiter lets a burst through and drops on 429 by default).
    """

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    group_per_minute: int = 20
    clock: Callable[[], float] = time.monotonic
    margin: float = 0.02  # seconds of slack for arrival jitter at the server
    _recent: deque[float] = field(default_factory=deque)
    _last_by_chat: dict[int, float] = field(default_factory=dict)
    _group_recent: dict[int, deque[float]] = field(default_factory=dict)
    _paused_until: float = 0.0

    def delay(self, chat_id: int) -> float:
        """Seconds to wait before a message to this chat may go; 0 when it may go now."""
        now = self.clock()
        window = 1.0 + self.margin
        while self._recent and self._recent[0] <= now - window:
            self._recent.popleft()
        waits = [self._paused_until - now]
        capacity = max(int(self.global_per_second), 1)
        if len(self._recent) >= capacity:
            waits.append(self._recent[len(self._recent) - capacity] + window - now)
        last = self._last_by_chat.get(chat_id)
        if last is not None:
            waits.append(last + 1.0 / self.per_chat_per_second + self.margin - now)
        if chat_id < 0:
            recent = self._group_recent.setdefault(chat_id, deque())
            while recent and recent[0] <= now - 60.0 - self.margin:
                recent.popleft()
            if len(recent) >= self.group_per_minute:
                waits.append(recent[len(recent) - self.group_per_minute] + 60.0 + self.margin - now)
        return max(0.0, *waits)

    def record(self, chat_id: int) -> None:
        """Count a send that is going out now."""
        now = self.clock()
        self._recent.append(now)
        self._last_by_chat[chat_id] = now
        if chat_id < 0:
            self._group_recent.setdefault(chat_id, deque()).append(now)
        if len(self._last_by_chat) > 100_000:  # forget chats not sent to in the last minute
            self._last_by_chat = {c: t for c, t in self._last_by_chat.items() if t > now - 60}

    async def wait(self, chat_id: int) -> None:
        """Wait until a message to this chat fits every limit, then count it."""
        while (pause := self.delay(chat_id)) > 0:  # noqa: ASYNC110 (a timed wait, not a condition)
            await asyncio.sleep(pause)
        self.record(chat_id)

    def pause(self, seconds: float) -> None:
        """Hold every send for a while (after a 429)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)


@dataclass
class Sender:
    """Drains the outbox: claim → send → mark, so a crash can lose only what was in flight, never send twice."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    pacer: Pacer
    concurrency: int = 16
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Sender:
        """A sender paced by the SEND_* settings."""
        pacer = Pacer(
            global_per_second=settings.send_global_per_second,
            per_chat_per_second=settings.send_per_chat_per_second,
            group_per_minute=settings.send_group_per_minute,
        )
        return cls(settings, sessionmaker, pacer)

    async def recover(self) -> int:
        """At start-up: mark deliveries left in flight by a crash as unknown (they are never re-sent)."""
        async with self.sessionmaker.begin() as session:
            count = await outbox.recover_in_flight(session)
        if count:
            log.warning("%d deliveries were in flight at the last stop; marked unknown, not re-sent", count)
        return count

    async def drain(self, bot: Bot, *, max_seconds: float = 50.0) -> int:
        """Send due deliveries until none is left or the time budget is spent; returns how many were sent."""
        if self._lock.locked():
            return 0
        async with self._lock:
            sent = 0
            deadline = time.monotonic() + max_seconds
            while time.monotonic() < deadline:
                async with self.sessionmaker.begin() as session:
                    batch = await outbox.claim_batch(session, self.concurrency)
                if not batch:
                    break
                sent += await self._send_batch(bot, batch)
            return sent

    async def _send_batch(self, bot: Bot, batch: list[outbox.Claimed]) -> int:
        async with self.sessionmaker() as session:
            views = await articles.get_views(session, sorted({c.story_id for c in batch}))
            chats = {
                c.chat_id: await session.get(subscribers.Subscriber, c.chat_id)
                for c in {c.chat_id: c for c in batch}.values()
            }
        results = await asyncio.gather(
            *(self._send_one(bot, c, views.get(c.story_id), chats.get(c.chat_id)) for c in batch)
        )
        return sum(results)

    async def _send_one(
        self, bot: Bot, claimed: outbox.Claimed, view: StoryView | None, chat: subscribers.Subscriber | None
    ) -> int:
        if view is None or chat is None or not chat.active:
            async with self.sessionmaker.begin() as session:
                await outbox.mark_failed(session, claimed.id, "story or chat gone")
            return 0
        text = render_story(view, lang=chat.language, tz=chat.timezone or self.settings.default_timezone)
        await self.pacer.wait(claimed.chat_id)
        try:
            message = await bot.send_message(
                claimed.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                message_thread_id=chat.thread_id,
            )
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            self.pacer.pause(wait)
            await self._retry(claimed, wait, f"429: retry after {wait:g}s", count=False)
            return 0
        except ChatMigrated as exc:
            async with self.sessionmaker.begin() as session:
                await subscribers.migrate_chat(session, claimed.chat_id, exc.new_chat_id)
            await self._retry(claimed, 0, f"chat migrated to {exc.new_chat_id}", count=False)
            return 0
        except Forbidden as exc:
            await self._gone(claimed.chat_id, f"403: {exc.message}")
            return 0
        except BadRequest as exc:  # before NetworkError: BadRequest is a NetworkError subclass
            if any(reason in exc.message.lower() for reason in GONE_CHAT):
                await self._gone(claimed.chat_id, f"400: {exc.message}")
            else:
                async with self.sessionmaker.begin() as session:
                    await outbox.mark_failed(session, claimed.id, f"400: {exc.message}")
                log.error("delivery %d rejected: %s", claimed.id, exc.message)
            return 0
        except (TimedOut, NetworkError) as exc:  # 5xx, timeouts, connection errors
            await self._transient(claimed, f"{type(exc).__name__}: {exc.message}")
            return 0
        except TelegramError as exc:
            async with self.sessionmaker.begin() as session:
                await outbox.mark_failed(session, claimed.id, f"{type(exc).__name__}: {exc.message}")
            return 0
        async with self.sessionmaker.begin() as session:
            await outbox.mark_sent(session, claimed.id, message.message_id)
        return 1

    async def _retry(self, claimed: outbox.Claimed, seconds: float, reason: str, *, count: bool) -> None:
        async with self.sessionmaker.begin() as session:
            await outbox.mark_retry(session, claimed.id, timedelta(seconds=seconds), reason, count=count)

    async def _transient(self, claimed: outbox.Claimed, reason: str) -> None:
        if claimed.attempts >= self.settings.send_max_attempts:
            async with self.sessionmaker.begin() as session:
                await outbox.mark_failed(session, claimed.id, f"gave up after {claimed.attempts} attempts: {reason}")
            log.error("delivery %d failed for good: %s", claimed.id, reason)
            return
        await self._retry(claimed, min(2**claimed.attempts, 300), reason, count=True)

    async def _gone(self, chat_id: int, reason: str) -> None:
        async with self.sessionmaker.begin() as session:
            await subscribers.deactivate(session, chat_id)
            await outbox.drop_chat(session, chat_id, reason)
        log.info("chat %d is gone (%s): marked inactive", chat_id, reason)
