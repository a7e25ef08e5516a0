"""Delivery: when each chat takes its pushes, pacing within Telegram's limits, and the outbox sender.

- `next_send` (pure): when a chat's new deliveries may go out (instant, hourly or daily digest, quiet hours).
- `Pacer` and `PacedRateLimiter`: every request that posts or edits a message waits until it fits Telegram's flood
  limits, so no 1-second window ever holds more than SEND_GLOBAL_PER_SECOND messages; pushes and edits also keep
  to SEND_PER_CHAT_PER_SECOND and SEND_GROUP_PER_MINUTE. A 429 pauses every send for `retry_after`.
- `classify` (pure): what a Telegram error means for a delivery (wait, migrate, drop the chat, retry, give up, or
  "may have arrived": never re-sent).
- `Sender`: plan → claim → send → mark, at most `workers` chats in flight; stories due together for one chat go
  out as one digest message; a sent message whose story gained an outlet is edited, never pushed again.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.warnings import PTBDeprecationWarning

from handlers.texts import t
from news.models import StoryView
from news.render import render_digest, render_story
from settings import Settings
from storage import articles, outbox, subscribers
from storage.db import utcnow
from storage.subscribers import DAILY, HOURLY, Preferences

log = logging.getLogger(__name__)

IN_FLIGHT = 16  # chats whose messages may be in flight at once: a crash leaves at most this many unknown
CLAIM_AHEAD = 0.1  # seconds: claim only what the pacer lets leave this soon
STRICT: dict[str, Any] = {"strict": True}  # rate_limit_args of pushes and edits: every flood limit applies
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
Bot = ExtBot[Any]

# ------------------------------------------------------------------------------------------- when (pure)


def _local_at_hour(local: datetime, hour: int) -> datetime:
    """The first local `hour`:00 at or after `local` (same zone)."""
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate >= local:
        return candidate
    return datetime.combine(local.date() + timedelta(days=1), clock_time(hour), tzinfo=local.tzinfo)


def in_quiet_hours(preferences: Preferences, local: datetime) -> bool:
    """Whether a local time falls in the chat's quiet hours (which may span midnight)."""
    start, end = preferences.quiet_start, preferences.quiet_end
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local.hour < end
    return local.hour >= start or local.hour < end


def next_send(preferences: Preferences, now: datetime, default_timezone: str) -> datetime:
    """When a delivery that is new at `now` may go out (UTC).

    Instant: now, or the end of quiet hours. Hourly digest: the next full local hour (moved to the end of quiet
    hours when it falls in them). Daily digest: the next chosen local hour (the reader picked it: quiet hours do
    not move it).
    """
    local = now.astimezone(ZoneInfo(preferences.timezone or default_timezone))
    if preferences.mode == DAILY:
        return _local_at_hour(local, preferences.digest_hour).astimezone(UTC)
    moment = local
    if preferences.mode == HOURLY and (local.minute, local.second, local.microsecond) != (0, 0, 0):
        moment = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if in_quiet_hours(preferences, moment):
        assert preferences.quiet_end is not None
        moment = _local_at_hour(moment, preferences.quiet_end)
    return moment.astimezone(UTC)


# ------------------------------------------------------------------------------------------- pacing


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter's wait in seconds (an int or a timedelta, depending on PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # "will be a timedelta": both are handled here
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass
class Pacer:
    """Keeps messages within Telegram's flood limits by sliding windows; no window ever holds more than its limit.

    Overall: `global_per_second` in any 1-second window, spaced evenly (never a burst: python-telegram-bot's
    AIORateLimiter lets 30 through at once and then 30/s). Strict messages (pushes, edits) also keep to
    `per_chat_per_second` per chat and `group_per_minute` per group or channel (negative chat ids); replies to
    commands only count there.

    A message holds its place in the windows from `start` (it leaves) until `done` (its answer came) and then
    counts at the answer's time. Telegram counted it somewhere in between, so however late a request reaches
    Telegram, the (N+1)-th message never lands within the window of the first: no jitter margin to tune.
    """

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    group_per_minute: int = 20
    clock: Callable[[], float] = time.monotonic
    poll: float = 0.005  # seconds between looks while a window waits for an answer
    _done: deque[float] = field(default_factory=deque)  # answer times of recent messages
    _flying: int = 0
    _chat_done: dict[int, float] = field(default_factory=dict)  # last answer time per chat
    _chat_flying: dict[int, int] = field(default_factory=dict)
    _group_done: dict[int, deque[float]] = field(default_factory=dict)
    _paused_until: float = 0.0
    _next_start: float = float("-inf")  # evenly spaced starts: no burst even when the window has room

    @classmethod
    def from_settings(cls, settings: Settings) -> Pacer:
        """A pacer with the SEND_* limits."""
        return cls(
            global_per_second=settings.send_global_per_second,
            per_chat_per_second=settings.send_per_chat_per_second,
            group_per_minute=settings.send_group_per_minute,
        )

    def _window_wait(self, done: deque[float], flying: int, capacity: int, span: float, now: float) -> float:
        """Seconds until one more message fits `capacity` per `span` (answers in `done`, `flying` in the air)."""
        while done and done[0] <= now - span:
            done.popleft()
        excess = len(done) + flying - capacity + 1
        if excess <= 0:
            return 0.0
        return done[excess - 1] + span - now if excess <= len(done) else self.poll

    def _global_wait(self, now: float) -> float:
        capacity = max(int(self.global_per_second), 1)
        window = self._window_wait(self._done, self._flying, capacity, capacity / self.global_per_second, now)
        return max(self._next_start - now, window)

    def _chat_wait(self, chat_id: int, now: float) -> float:
        if self._chat_flying.get(chat_id):
            return self.poll
        last = self._chat_done.get(chat_id)
        return 0.0 if last is None else last + 1.0 / self.per_chat_per_second - now

    def _group_wait(self, chat_id: int, now: float) -> float:
        if chat_id >= 0:
            return 0.0
        done = self._group_done.setdefault(chat_id, deque())
        return self._window_wait(done, self._chat_flying.get(chat_id, 0), self.group_per_minute, 60.0, now)

    @property
    def flying(self) -> int:
        """Messages on the wire now."""
        return self._flying

    def room(self, horizon: float) -> int:
        """How many messages could leave within `horizon` seconds, as far as the global limit goes."""
        now = self.clock()
        if self._paused_until > now + horizon:
            return 0
        capacity = max(int(self.global_per_second), 1)
        window = capacity / self.global_per_second
        while self._done and self._done[0] <= now - window:
            self._done.popleft()
        still_counted = len(self._done) - bisect.bisect_right(self._done, now + horizon - window)
        first = max(self._next_start, self._paused_until, now)
        spaced = int((now + horizon - first) * self.global_per_second) + 1 if first <= now + horizon else 0
        return max(min(capacity - still_counted - self._flying, spaced), 0)

    def delay(self, chat_id: int | None, *, strict: bool = True) -> float:
        """Seconds to wait before a message to this chat may leave; 0 when it may leave now."""
        now = self.clock()
        waits = [self._paused_until - now, self._global_wait(now)]
        if strict and chat_id is not None:
            waits += [self._chat_wait(chat_id, now), self._group_wait(chat_id, now)]
        return max(0.0, *waits)

    def start(self, chat_id: int | None) -> None:
        """A message leaves now."""
        self._flying += 1
        interval = 1.0 / self.global_per_second
        # The next slot follows this one's slot, not the moment it really left, so late wake-ups do not add up;
        # after a pause it may come one interval early at most (never a burst).
        self._next_start = max(self._next_start, self.clock() - interval) + interval
        if chat_id is not None:
            self._chat_flying[chat_id] = self._chat_flying.get(chat_id, 0) + 1

    def done(self, chat_id: int | None) -> None:
        """Its answer came (whatever it said): the message counts at this time."""
        now = self.clock()
        self._flying -= 1
        self._done.append(now)
        if chat_id is None:
            return
        self._chat_flying[chat_id] -= 1
        if not self._chat_flying[chat_id]:
            del self._chat_flying[chat_id]
        self._chat_done[chat_id] = now
        if chat_id < 0:
            self._group_done.setdefault(chat_id, deque()).append(now)
        if len(self._chat_done) > 100_000:  # forget chats not written to in the last minute
            self._chat_done = {chat: at for chat, at in self._chat_done.items() if at > now - 60}
            self._group_done = {chat: q for chat, q in self._group_done.items() if q and q[-1] > now - 60}

    async def wait(self, chat_id: int | None, *, strict: bool = True) -> None:
        """Wait until a message to this chat fits every limit, then `start` it (call `done` after the answer)."""
        while (pause := self.delay(chat_id, strict=strict)) > 0:  # noqa: ASYNC110 (a timed wait, not a condition)
            await asyncio.sleep(pause)
        self.start(chat_id)

    def pause(self, seconds: float) -> None:
        """Hold every message for a while (after a 429)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)


def _paced(endpoint: str) -> bool:
    """Whether a Bot API method posts or edits a message (and so counts toward the flood limits)."""
    name = endpoint.lower()
    return name != "sendchataction" and name.startswith(("send", "edit", "copymessage", "forwardmessage"))


def _chat_of(data: dict[str, Any]) -> int | None:
    chat_id = data.get("chat_id")
    try:
        return int(chat_id) if chat_id is not None else None
    except (TypeError, ValueError):  # "@channelname"
        return None


class PacedRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's rate-limiter hook around a Pacer: every message the bot posts or edits is paced.

    Calls made with `rate_limit_args=STRICT` (pushes, edits) keep every limit; replies keep the global one.
    A 429 pauses all sends for `retry_after`, then the call is retried up to `max_retries` times; after that
    the RetryAfter reaches the caller (the Sender puts the delivery back, never drops it).
    """

    def __init__(self, pacer: Pacer, *, max_retries: int = 2) -> None:
        self.pacer = pacer
        self.max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for the pacer, make the call; on 429 pause everything, wait and retry."""
        if not _paced(endpoint):
            return await callback(*args, **kwargs)
        chat_id, strict = _chat_of(data), bool(rate_limit_args and rate_limit_args.get("strict"))
        for attempt in range(self.max_retries + 1):
            await self.pacer.wait(chat_id, strict=strict)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_seconds(error)
                self.pacer.pause(seconds)
                log.warning("429 from Telegram on %s to %s: every send waits %gs", endpoint, chat_id, seconds)
                if attempt == self.max_retries:
                    raise
            finally:
                self.pacer.done(chat_id)
        raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------- errors (pure)


class Verdict(Enum):
    """What a failed send means for its deliveries."""

    WAIT = "wait"  # 429: retry after retry_after; not an attempt
    MIGRATED = "migrated"  # the group became a supergroup: rewrite the chat id and retry
    GONE = "gone"  # blocked, kicked, chat not found: the chat is inactive and its pending deliveries dropped
    NO_THREAD = "no_thread"  # the forum thread is gone: send to the main thread instead
    REJECTED = "rejected"  # any other 400 or API error: give up now, never retried
    TRANSIENT = "transient"  # a 5xx, or the request never reached Telegram: retry with back-off
    LOST = "lost"  # the request went out but its answer was lost: it may have arrived, so it is never re-sent


@dataclass(frozen=True)
class Failure:
    """A classified send error."""

    verdict: Verdict
    reason: str
    retry_after: float = 0.0
    new_chat_id: int | None = None


GONE_CHAT = (
    "chat not found",
    "user is deactivated",
    "bot was kicked",
    "bot is not a member",
    "not enough rights",
    "have no rights",
    "need administrator rights",
    "group chat was deactivated",
    "peer_id_invalid",
)
GONE_THREAD = ("message thread not found", "topic_closed", "topic_deleted", "thread not found")
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout)


def _bad_request(error: BadRequest) -> Failure:
    text = error.message.lower()
    if any(reason in text for reason in GONE_CHAT):
        return Failure(Verdict.GONE, f"400: {error.message}")
    if any(reason in text for reason in GONE_THREAD):
        return Failure(Verdict.NO_THREAD, f"400: {error.message}")
    return Failure(Verdict.REJECTED, f"400: {error.message}")


def _network(error: NetworkError) -> Failure:
    """5xx answers and requests that never left are retried; a lost answer (read timeout...) is not."""
    reason = f"{type(error).__name__}: {error.message}"
    cause = error.__cause__
    if cause is None and not isinstance(error, TimedOut):  # Telegram answered with a server error
        return Failure(Verdict.TRANSIENT, reason)
    if isinstance(cause, NOT_SENT):
        return Failure(Verdict.TRANSIENT, reason)
    return Failure(Verdict.LOST, reason)


def classify(error: TelegramError) -> Failure:
    """What a Telegram error means for the deliveries of the message that failed."""
    if isinstance(error, RetryAfter):
        return Failure(Verdict.WAIT, f"429: retry after {retry_seconds(error):g}s", retry_after=retry_seconds(error))
    if isinstance(error, ChatMigrated):
        return Failure(Verdict.MIGRATED, f"migrated to {error.new_chat_id}", new_chat_id=int(error.new_chat_id))
    if isinstance(error, Forbidden):
        return Failure(Verdict.GONE, f"403: {error.message}")
    if isinstance(error, BadRequest):  # before NetworkError: BadRequest is a NetworkError subclass
        return _bad_request(error)
    if isinstance(error, NetworkError):  # TimedOut too
        return _network(error)
    return Failure(Verdict.REJECTED, f"{type(error).__name__}: {error.message}")


# ------------------------------------------------------------------------------------------- messages (pure)


def render_message(views: Sequence[StoryView], *, lang: str, tz: str) -> str | None:
    """One message carrying exactly these stories (one alone, several as a digest); None when it cannot fit."""
    if len(views) == 1:
        return render_story(views[0], lang=lang, tz=tz)
    parts = render_digest(views, header=t("digest_header", lang), lang=lang, tz=tz)
    return parts[0] if len(parts) == 1 else None


def message_parts(views: Sequence[StoryView], *, lang: str, tz: str) -> list[tuple[tuple[int, ...], str]]:
    """Stories due together as few messages as fit, in order, with the story ids each message carries."""
    parts: list[tuple[list[StoryView], str]] = []
    for view in views:
        grown = [*parts[-1][0], view] if parts else []
        if grown and (text := render_message(grown, lang=lang, tz=tz)) is not None:
            parts[-1] = (grown, text)
        else:
            parts.append(([view], render_story(view, lang=lang, tz=tz)))
    return [(tuple(view.id for view in chunk), text) for chunk, text in parts]


# ------------------------------------------------------------------------------------------- the sender


@dataclass
class Sender:
    """Drains the outbox: plan → claim → send → mark, so a crash can lose only what was in flight, never send twice.

    The bot must carry a PacedRateLimiter (pushes pass `rate_limit_args=STRICT`).
    """

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    workers: int = IN_FLIGHT
    retry_base_seconds: float = 2.0  # back-off after a server error: base, 2×base, 4×base... (at most 5 minutes)
    stories_per_message: int = 20  # most stories claimed for one chat at once
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def recover(self) -> int:
        """At start-up: mark deliveries left in flight by a crash as unknown (they are never re-sent)."""
        async with self.sessionmaker.begin() as session:
            count = await outbox.recover_in_flight(session)
        if count:
            log.warning("%d deliveries were in flight at the last stop; marked unknown, not re-sent", count)
        return count

    async def drain(self, bot: Bot, *, max_seconds: float = 50.0) -> int:
        """Send what is due, then edit what changed, until nothing is left or the time is spent; returns sends."""
        if self._lock.locked():
            return 0
        async with self._lock:
            deadline = time.monotonic() + max_seconds
            await self.plan()
            sent = await self._send_due(bot, deadline)
            await self._edit_due(bot, deadline)
            return sent

    async def plan(self, now: datetime | None = None) -> int:
        """Decide when each chat's new deliveries go out (its mode, quiet hours and time zone); returns chats."""
        now = now or utcnow()
        async with self.sessionmaker.begin() as session:
            chat_ids = await outbox.unplanned_chats(session)
            chats = await subscribers.chats(session, chat_ids)
            by_time: dict[datetime, list[int]] = {}
            for chat_id in chat_ids:
                chat = chats.get(chat_id)
                preferences = chat.preferences if chat is not None else Preferences()
                at = next_send(preferences, now, self.settings.default_timezone)
                by_time.setdefault(max(at, now), []).append(chat_id)
            for at, ids in by_time.items():
                await outbox.plan(session, ids, at)
        return len(chat_ids)

    async def _claim(self, count: int, busy: set[int]) -> list[outbox.ClaimedChat]:
        """Claim due deliveries of up to `count` chats not already in flight (planning new ones when none is)."""
        for _ in range(2):
            async with self.sessionmaker.begin() as session:
                claimed = await outbox.claim_chats(session, count, per_chat=self.stories_per_message, exclude=busy)
            if claimed or not await self.plan():
                return claimed
        return []

    async def _send_due(self, bot: Bot, deadline: float) -> int:
        """Keep up to `workers` chats in flight until nothing is due or the deadline passes.

        Chats are claimed only as fast as the pacer lets messages leave (looking CLAIM_AHEAD seconds ahead), so a
        claimed delivery is one about to leave: a crash loses what was on the wire, not a queue waiting for the
        flood limits.
        """
        pacer = bot.rate_limiter.pacer if isinstance(bot.rate_limiter, PacedRateLimiter) else None
        running: dict[asyncio.Task[int], int] = {}
        sent = 0
        try:
            while True:
                room = self.workers - len(running)
                if pacer is not None:  # what the pacer lets leave soon, less the chats already waiting for it
                    room = min(room, pacer.room(CLAIM_AHEAD) - max(len(running) - pacer.flying, 0))
                claimed = []
                if room > 0 and time.monotonic() < deadline:
                    claimed = await self._claim(room, set(running.values()))
                    for chat in claimed:
                        running[asyncio.create_task(self._send_chat(bot, chat))] = chat.chat_id
                if not running:
                    if (room > 0 and not claimed) or time.monotonic() >= deadline:
                        return sent  # nothing due, or time is up
                    await asyncio.sleep(CLAIM_AHEAD / 2)  # the pacer is full (replies, a 429 pause)
                    continue
                done, _ = await asyncio.wait(running, timeout=CLAIM_AHEAD / 2, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    running.pop(task)
                    sent += task.result()
        finally:
            if running:  # never leave a claimed delivery unmarked while this process lives
                await asyncio.gather(*running, return_exceptions=True)

    async def _send_chat(self, bot: Bot, claimed: outbox.ClaimedChat) -> int:
        """Deliver one chat's claimed stories; a bug marks them unknown instead of stopping the other chats."""
        try:
            return await self._deliver(bot, claimed)
        except Exception:
            log.exception("delivering to chat %d failed", claimed.chat_id)
            async with self.sessionmaker.begin() as session:
                await outbox.mark_unknown(session, claimed.ids, "internal error while sending")
            return 0

    async def _load(
        self, chat_id: int, story_ids: Sequence[int]
    ) -> tuple[subscribers.Subscriber | None, dict[int, StoryView]]:
        async with self.sessionmaker() as session:
            chat = await session.get(subscribers.Subscriber, chat_id)
            views = await articles.get_views(session, sorted(set(story_ids)))
        return chat, views

    async def _deliver(self, bot: Bot, claimed: outbox.ClaimedChat) -> int:
        """Render the claimed stories as one message (or a few, at the length limit), send, mark."""
        chat, views = await self._load(claimed.chat_id, [d.story_id for d in claimed.deliveries])
        if chat is None or not chat.active:
            async with self.sessionmaker.begin() as session:
                await outbox.drop_chat(session, claimed.chat_id, "chat inactive")
            return 0
        gone = [d.id for d in claimed.deliveries if d.story_id not in views]
        if gone:
            async with self.sessionmaker.begin() as session:
                await outbox.mark_failed(session, gone, "story gone")
        ids_of = {d.story_id: d.id for d in claimed.deliveries}
        ordered = [views[d.story_id] for d in claimed.deliveries if d.story_id in views]
        parts = message_parts(ordered, lang=chat.language, tz=chat.timezone or self.settings.default_timezone)
        sent = 0
        for index, (story_ids, text) in enumerate(parts):
            ids = [ids_of[story_id] for story_id in story_ids]
            try:
                message = await bot.send_message(
                    chat.chat_id,
                    text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                    message_thread_id=chat.thread_id,
                    rate_limit_args=STRICT,
                )
            except TelegramError as error:
                rest = ids + [ids_of[story_id] for later, _ in parts[index + 1 :] for story_id in later]
                await self._settle(chat, claimed, rest, classify(error))
                return sent
            async with self.sessionmaker.begin() as session:
                await outbox.mark_sent(session, ids, message.message_id)
            sent += len(ids)
        return sent

    async def _retry(self, ids: Sequence[int], seconds: float, reason: str, *, count: bool) -> None:
        async with self.sessionmaker.begin() as session:
            await outbox.mark_retry(session, ids, timedelta(seconds=seconds), reason, count=count)

    async def _settle(
        self, chat: subscribers.Subscriber, claimed: outbox.ClaimedChat, ids: Sequence[int], failure: Failure
    ) -> None:
        """Mark deliveries whose message failed, as the failure says."""
        match failure.verdict:
            case Verdict.WAIT:
                await self._retry(ids, failure.retry_after, failure.reason, count=False)
            case Verdict.MIGRATED:
                assert failure.new_chat_id is not None
                async with self.sessionmaker.begin() as session:
                    await subscribers.migrate_chat(session, claimed.chat_id, failure.new_chat_id)
                log.info("chat %d migrated to %d", claimed.chat_id, failure.new_chat_id)
                await self._retry(ids, 0, failure.reason, count=False)
            case Verdict.GONE:
                await self._gone(claimed.chat_id, failure.reason)
            case Verdict.NO_THREAD if chat.thread_id is not None:
                async with self.sessionmaker.begin() as session:
                    await subscribers.save_preferences(session, chat.chat_id, replace(chat.preferences, thread_id=None))
                log.info("chat %d: thread %d is gone, sending to the main thread", chat.chat_id, chat.thread_id)
                await self._retry(ids, 0, failure.reason, count=False)
            case Verdict.TRANSIENT if claimed.attempts + 1 < self.settings.send_max_attempts:
                wait = min(self.retry_base_seconds * 2**claimed.attempts, 300.0)
                await self._retry(ids, wait, failure.reason, count=True)
            case Verdict.TRANSIENT:
                await self._fail(claimed, ids, f"gave up after {claimed.attempts + 1} attempts: {failure.reason}")
            case Verdict.LOST:
                async with self.sessionmaker.begin() as session:
                    await outbox.mark_unknown(session, ids, failure.reason)
                log.warning("chat %d: %s; the message may have arrived, not re-sent", claimed.chat_id, failure.reason)
            case _:
                await self._fail(claimed, ids, failure.reason)

    async def _fail(self, claimed: outbox.ClaimedChat, ids: Sequence[int], reason: str) -> None:
        async with self.sessionmaker.begin() as session:
            await outbox.mark_failed(session, ids, reason)
        log.error("deliveries %s to chat %d failed: %s", list(ids), claimed.chat_id, reason)

    async def _gone(self, chat_id: int, reason: str) -> None:
        async with self.sessionmaker.begin() as session:
            await subscribers.deactivate(session, chat_id)
            await outbox.drop_chat(session, chat_id, reason)
        log.info("chat %d is gone (%s): marked inactive, pending deliveries dropped", chat_id, reason)

    # ------------------------------------------------------------------------------ edits

    async def _edit_due(self, bot: Bot, deadline: float) -> None:
        """Edit sent messages whose story gained an outlet, `workers` at a time, until none is due."""
        while time.monotonic() < deadline:
            async with self.sessionmaker() as session:
                due = await outbox.edits_due(session, self.workers)
            if not due:
                return
            finished = await asyncio.gather(*(self._edit(bot, item) for item in due))
            if not all(finished):  # a 429: the rest waits for the next round
                return

    async def _edit(self, bot: Bot, due: outbox.EditDue) -> bool:
        """Re-render one sent message with every source and edit it; False when it must wait (429).

        Everything else ends in silence, never in a second push: a message too old to edit, one that no longer
        fits, "message is not modified", or any other refusal.
        """
        text = None
        if due.sent_at >= utcnow() - outbox.EDITABLE_FOR:
            chat, views = await self._load(due.chat_id, due.story_ids)
            if chat is not None and chat.active and all(story_id in views for story_id in due.story_ids):
                tz = chat.timezone or self.settings.default_timezone
                text = render_message([views[story_id] for story_id in due.story_ids], lang=chat.language, tz=tz)
        if text is not None:
            try:
                await bot.edit_message_text(
                    text,
                    chat_id=due.chat_id,
                    message_id=due.message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                    rate_limit_args=STRICT,
                )
            except TelegramError as error:
                failure = classify(error)
                if failure.verdict is Verdict.WAIT:
                    return False
                if failure.verdict is Verdict.GONE:
                    await self._gone(due.chat_id, failure.reason)
                elif "not modified" not in failure.reason:
                    log.info("message %d in chat %d not edited: %s", due.message_id, due.chat_id, failure.reason)
        async with self.sessionmaker.begin() as session:
            await outbox.edit_done(session, due)
        return True
