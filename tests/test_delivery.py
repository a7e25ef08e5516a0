"""delivery.py: when pushes go out, pacing, error handling, digests and edits.

Pure parts (next_send, Pacer on a fake clock, classify, message_parts) are tested directly; the Sender runs
against the loopback Bot API server (faults injected there) on a real SQLite database.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from delivery import (
    PacedRateLimiter,
    Pacer,
    Sender,
    Verdict,
    classify,
    message_parts,
    next_send,
    render_message,
)
from news.models import Source, StoryView
from news.render import MAX_MESSAGE, visible_length
from settings import Settings
from storage import outbox, subscribers
from storage.articles import Article, Entry, Story
from storage.feeds import Feed
from storage.outbox import Delivery
from storage.subscribers import DAILY, HOURLY, Preferences
from tests.support.botapi import BotApiServer

RIYADH = "Asia/Riyadh"
NAMES = ("الأول", "الثاني", "الثالث", "الرابع", "الخامس", "السادس", "السابع", "الثامن")  # digits get bidi isolates

# ------------------------------------------------------------------------------------------- next_send


def riyadh(day: int, hour: int, minute: int = 0) -> datetime:
    """A Riyadh wall-clock time in March 2026, as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=ZoneInfo(RIYADH)).astimezone(UTC)


def test_instant_goes_now_outside_quiet_hours_and_waits_for_their_end() -> None:
    quiet = Preferences(quiet_start=22, quiet_end=7)
    assert next_send(Preferences(), riyadh(10, 23, 30), RIYADH) == riyadh(10, 23, 30)
    assert next_send(quiet, riyadh(10, 12), RIYADH) == riyadh(10, 12)
    assert next_send(quiet, riyadh(10, 23, 30), RIYADH) == riyadh(11, 7)
    assert next_send(quiet, riyadh(11, 3), RIYADH) == riyadh(11, 7)
    assert next_send(Preferences(quiet_start=1, quiet_end=5), riyadh(11, 3), RIYADH) == riyadh(11, 5)
    assert next_send(Preferences(quiet_start=5, quiet_end=5), riyadh(11, 5), RIYADH) == riyadh(11, 5)


def test_hourly_digest_waits_for_the_next_full_hour_and_respects_quiet_hours() -> None:
    hourly = Preferences(mode=HOURLY)
    assert next_send(hourly, riyadh(10, 9, 10), RIYADH) == riyadh(10, 10)
    assert next_send(hourly, riyadh(10, 9), RIYADH) == riyadh(10, 9)
    quiet = Preferences(mode=HOURLY, quiet_start=0, quiet_end=8)
    assert next_send(quiet, riyadh(10, 23, 10), RIYADH) == riyadh(11, 8)
    tehran = Preferences(mode=HOURLY, timezone="Asia/Tehran")  # UTC+3:30: local full hours are UTC half hours
    assert next_send(tehran, datetime(2026, 3, 10, 6, 40, tzinfo=UTC), RIYADH) == datetime(
        2026, 3, 10, 7, 30, tzinfo=UTC
    )


def test_daily_digest_goes_at_the_chosen_local_hour_whatever_the_quiet_hours() -> None:
    daily = Preferences(mode=DAILY, digest_hour=8, quiet_start=22, quiet_end=9)
    assert next_send(daily, riyadh(10, 7, 59), RIYADH) == riyadh(10, 8)
    assert next_send(daily, riyadh(10, 8, 1), RIYADH) == riyadh(11, 8)
    casablanca = Preferences(mode=DAILY, digest_hour=8, timezone="Africa/Casablanca")
    moment = next_send(casablanca, riyadh(10, 12), RIYADH)
    assert moment.astimezone(ZoneInfo("Africa/Casablanca")).hour == 8 and moment > riyadh(10, 12)


# ------------------------------------------------------------------------------------------- Pacer


@dataclass
class FakeClock:
    """A clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def pace(
    pacer: Pacer, clock: FakeClock, chats: Iterable[int], *, strict: bool = True, latency: float = 0.0
) -> list[tuple[float, float]]:
    """Send to each chat in turn as soon as the pacer allows, each answered after `latency`; (left, answered)."""
    times = []
    for chat in chats:
        clock.now += pacer.delay(chat, strict=strict)
        assert pacer.delay(chat, strict=strict) == 0
        pacer.start(chat)
        left = clock.now
        clock.now += latency
        pacer.done(chat)
        times.append((left, clock.now))
    return times


def most_in_any_window(times: list[float], span: float) -> int:
    """The most events in any half-open window of `span` seconds (as Telegram's sliding window counts)."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + span) for i, start in enumerate(times))


def test_pacer_never_puts_more_than_30_in_any_second_not_even_at_the_start() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    times = pace(pacer, clock, range(1, 151))
    assert most_in_any_window([left for left, _ in times], 1.0) == 30
    assert times[-1][0] - times[0][0] < 5.0  # and keeps to 30 per second


def test_a_slow_answer_holds_its_place_so_late_arrivals_cannot_crowd_a_window() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    times = pace(pacer, clock, range(1, 91), latency=0.2)
    # Telegram counts each message at some moment between leaving and its answer; take the worst case:
    # early ones counted as late as possible, later ones as early as possible.
    for i in range(len(times) - 30):
        assert times[i + 30][0] - times[i][1] >= 1.0


def test_pacer_spaces_one_chat_by_a_second_and_a_group_by_20_a_minute() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    private = [left for left, _ in pace(pacer, clock, [7, 7, 7], latency=0.1)]
    assert all(later - earlier >= 1.1 for earlier, later in itertools.pairwise(private))
    group = [left for left, _ in pace(pacer, clock, [-100] * 25)]
    assert most_in_any_window(group, 60.0) == 20
    assert group[20] - group[0] >= 60.0


def test_replies_keep_only_the_global_limit_and_a_429_pauses_everything() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    replies = [left for left, _ in pace(pacer, clock, [7, 7, 7], strict=False)]
    assert replies[-1] - replies[0] < 0.1  # spaced by 1/30 s, not by the chat's second
    assert pacer.delay(7) >= 1.0  # a push to that chat still waits its second
    pacer.start(8)
    clock.now += 0.5
    assert pacer.delay(8) > 0 and pacer.delay(8, strict=False) == 0  # one push at a time per chat
    pacer.done(8)
    pacer.pause(5)
    assert pacer.delay(9, strict=False) == pytest.approx(5)


# ------------------------------------------------------------------------------------------- classify


def caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (RetryAfter(3), Verdict.WAIT),
        (ChatMigrated(-1001), Verdict.MIGRATED),
        (Forbidden("Forbidden: bot was blocked by the user"), Verdict.GONE),
        (BadRequest("Bad Request: chat not found"), Verdict.GONE),
        (BadRequest("Bad Request: message thread not found"), Verdict.NO_THREAD),
        (BadRequest("Bad Request: message is too long"), Verdict.REJECTED),
        (NetworkError("Internal Server Error (500)"), Verdict.TRANSIENT),
        (caused(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("refused")), Verdict.TRANSIENT),
        (caused(TimedOut("Pool timeout"), httpx.PoolTimeout("pool")), Verdict.TRANSIENT),
        (caused(TimedOut(), httpx.ReadTimeout("read")), Verdict.LOST),
        (caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("eof")), Verdict.LOST),
        (InvalidToken("Unauthorized"), Verdict.REJECTED),
    ],
)
def test_classify_never_retries_a_400_and_never_resends_what_may_have_arrived(
    error: Exception, verdict: Verdict
) -> None:
    assert classify(error).verdict is verdict  # type: ignore[arg-type]


def test_classify_carries_the_wait_and_the_new_chat_id() -> None:
    assert classify(RetryAfter(timedelta(seconds=7))).retry_after == 7
    assert classify(ChatMigrated(-1002)).new_chat_id == -1002


# ------------------------------------------------------------------------------------------- message_parts


def view(story_id: int, digest_words: int = 20, sources: tuple[str, ...] = ("الرياض",)) -> StoryView:
    digest = " ".join(["كلمة"] * digest_words) + "."
    published = datetime(2026, 3, 1, 9, tzinfo=UTC)
    links = tuple(Source(name, f"https://example.com/{story_id}") for name in sources)
    return StoryView(story_id, f"عنوان الخبر رقم {story_id}", digest, published, links)


def test_stories_due_together_share_one_message_until_it_is_full() -> None:
    (single,) = message_parts([view(1)], lang="ar", tz=RIYADH)
    assert single[0] == (1,) and "أخبار مواضيعك" not in single[1]
    (digest,) = message_parts([view(1), view(2), view(3)], lang="ar", tz=RIYADH)
    assert digest[0] == (1, 2, 3) and digest[1].startswith("🗞 أخبار مواضيعك")
    parts = message_parts([view(i, digest_words=150) for i in range(1, 13)], lang="en", tz=RIYADH)
    assert len(parts) > 1 and [i for ids, _ in parts for i in ids] == list(range(1, 13))
    assert all(visible_length(text) <= MAX_MESSAGE for _, text in parts)
    assert all(render_message([view(i, 150) for i in ids], lang="en", tz=RIYADH) == text for ids, text in parts)


# ------------------------------------------------------------------------------------------- the Sender


@dataclass
class Rig:
    """A Sender, a paced bot on the loopback Bot API server, and the database."""

    server: BotApiServer
    bot: ExtBot
    sender: Sender
    db: async_sessionmaker[AsyncSession]
    pacer: Pacer

    async def drain(self, until: int = 1, timeout: float = 10.0) -> None:
        """Drain (again and again: retries wait) until `until` messages were sent overall or time is up."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while datetime.now(UTC) < deadline:
            await self.sender.drain(self.bot, max_seconds=timeout)
            if len(self.server.sent) >= until and not await self.pending():
                return
            await _sleep(0.05)

    async def pending(self) -> int:
        async with self.db() as session:
            counts = await outbox.counts(session)
        return counts.get("pending", 0) + counts.get("sending", 0)

    async def statuses(self) -> dict[int, str]:
        """Delivery status by chat."""
        async with self.db() as session:
            rows = (await session.execute(select(Delivery.chat_id, Delivery.status))).all()
        return dict(rows)  # type: ignore[arg-type]


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def make_rig_settings(server: BotApiServer, tmp_path: Path, per_chat_per_second: float) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=server.token,
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        send_max_attempts=3,
        send_per_chat_per_second=per_chat_per_second,
    )


@pytest.fixture
async def rig(
    sqlite_db: async_sessionmaker[AsyncSession], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Rig]:
    options = getattr(request, "param", {})
    async with BotApiServer(enforce_limits=options.get("enforce_limits", False)) as server:
        # Pacing per chat is tested on a fake clock above; here a chat takes 20 a second to keep tests fast.
        settings = make_rig_settings(server, tmp_path, options.get("per_chat_per_second", 20.0))
        pacer = Pacer.from_settings(settings)
        bot = ExtBot(
            server.token,
            base_url=server.base_url,
            request=HTTPXRequest(connection_pool_size=32, read_timeout=options.get("read_timeout", 5.0)),
            rate_limiter=PacedRateLimiter(pacer, max_retries=options.get("max_retries", 2)),
        )
        await bot.initialize()
        try:
            yield Rig(server, bot, Sender(settings, sqlite_db, retry_base_seconds=0.05), sqlite_db, pacer)
        finally:
            await bot.shutdown()


async def add_chats(db: async_sessionmaker[AsyncSession], chat_ids: Iterable[int], **preferences: object) -> None:
    async with db.begin() as session:
        for chat_id in chat_ids:
            kind = "private" if chat_id > 0 else "supergroup"
            await subscribers.touch(session, chat_id, chat_type=kind, language="ar")
            if preferences:
                await subscribers.save_preferences(session, chat_id, Preferences(**preferences))  # type: ignore[arg-type]


async def add_story(
    db: async_sessionmaker[AsyncSession], title: str, outlets: Iterable[str] = ("الرياض",), digest: str = ""
) -> int:
    """A story carried by these outlets (one feed each)."""
    async with db.begin() as session:
        story = Story(title=title, digest=digest or f"{title}: خلاصة الخبر.", published_at=datetime.now(UTC))
        session.add(story)
        await session.flush()
        for outlet in outlets:
            await add_outlet(session, story.id, outlet)
        return story.id


async def add_outlet(session: AsyncSession, story_id: int, outlet: str) -> None:
    """Another outlet carries the story (a new feed entry of a new article in it)."""
    feed = await session.scalar(select(Feed).where(Feed.name == outlet))
    if feed is None:
        feed = Feed(url=f"https://{abs(hash(outlet))}.example/feed", name=outlet)
        session.add(feed)
        await session.flush()
    now = datetime.now(UTC)
    article = Article(
        story_id=story_id,
        content_hash=f"{story_id}-{outlet}",
        url=f"https://{feed.id}.example/{story_id}",
        title="t",
        text="x",
        digest="d",
        published_at=now,
    )
    session.add(article)
    await session.flush()
    session.add(Entry(feed_id=feed.id, key=f"{story_id}", article_id=article.id, url=article.url, published_at=now))
    await session.flush()


async def push(db: async_sessionmaker[AsyncSession], story_id: int, chat_ids: Iterable[int]) -> None:
    async with db.begin() as session:
        await outbox.enqueue(session, story_id, chat_ids)


def windows_ok(times: Iterable[float], limit: int = 30) -> bool:
    """Telegram's rule on the server's own clock: the (limit+1)-th message is at least 1 s after the first."""
    ordered = sorted(times)
    return all(ordered[i + limit] - ordered[i] >= 1.0 for i in range(len(ordered) - limit))


@pytest.mark.parametrize("rig", [{"enforce_limits": True}], indirect=True)
async def test_fan_out_keeps_within_30_per_second_without_a_single_429(rig: Rig) -> None:
    chats = list(range(1, 71))
    await add_chats(rig.db, chats)
    await push(rig.db, await add_story(rig.db, "إيران وروسيا"), chats)
    await rig.drain(until=70)
    assert sorted(message.chat_id for message in rig.server.sent) == chats
    assert rig.server.http_429 == 0
    assert windows_ok(message.time for message in rig.server.sent)  # when each was accepted
    assert windows_ok(when for name, _, when in rig.server.requests if name == "sendMessage")  # when each arrived
    assert set((await rig.statuses()).values()) == {"sent"}


async def test_a_429_delays_the_push_and_never_drops_it(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    rig.server.inject("sendMessage", chat_id=5, retry_after=1)
    await rig.drain()
    (message,) = rig.server.sent
    assert message.chat_id == 5 and rig.server.http_429 == 1
    requests = [time for name, _, time in rig.server.requests if name == "sendMessage"]
    assert requests[1] - requests[0] >= 1.0


@pytest.mark.parametrize("rig", [{"max_retries": 0}], indirect=True)
async def test_a_429_reaching_the_sender_puts_the_delivery_back_uncounted(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    rig.server.inject("sendMessage", chat_id=5, retry_after=1)
    await rig.sender.drain(rig.bot, max_seconds=0.3)
    async with rig.db() as session:
        row = await session.scalar(select(Delivery))
    assert row is not None and row.status == "pending" and row.attempts == 0 and "429" in (row.last_error or "")
    await rig.drain()
    assert [message.chat_id for message in rig.server.sent] == [5]


async def test_a_blocked_chat_is_marked_inactive_and_start_reactivates_it(rig: Rig) -> None:
    await add_chats(rig.db, [5, 6])
    await push(rig.db, await add_story(rig.db, "خبر"), [5, 6])
    rig.server.block(5)
    await rig.drain()
    assert [message.chat_id for message in rig.server.sent] == [6]
    assert await rig.statuses() == {5: "dropped", 6: "sent"}
    async with rig.db() as session:
        chat = await session.get(subscribers.Subscriber, 5)
        assert chat is not None and not chat.active
    async with rig.db.begin() as session:
        await subscribers.touch(session, 5, chat_type="private", language="ar")  # what /start does
    async with rig.db() as session:
        chat = await session.get(subscribers.Subscriber, 5)
    assert chat is not None and chat.active


async def test_pending_deliveries_of_a_blocked_chat_are_dropped(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    now_story, later_story = await add_story(rig.db, "أ"), await add_story(rig.db, "ب")
    await push(rig.db, now_story, [5])
    await push(rig.db, later_story, [5])
    async with rig.db.begin() as session:  # the second one waits for a digest
        await session.execute(
            update(Delivery)
            .where(Delivery.story_id == later_story)
            .values(not_before=datetime.now(UTC) + timedelta(hours=1))
        )
    rig.server.block(5)
    await rig.sender.drain(rig.bot)
    async with rig.db() as session:
        assert await outbox.counts(session) == {"dropped": 2}
    assert rig.server.sent == []


async def test_a_migrated_group_gets_its_new_id_and_the_push(rig: Rig) -> None:
    await add_chats(rig.db, [-100])
    async with rig.db.begin() as session:
        await subscribers.follow(session, -100, "iran")
    await push(rig.db, await add_story(rig.db, "خبر"), [-100])
    rig.server.inject("sendMessage", chat_id=-100, migrate_to_chat_id=-1001234)
    await rig.drain()
    assert [message.chat_id for message in rig.server.sent] == [-1001234]
    async with rig.db() as session:
        assert await subscribers.topics_of(session, -1001234) == ["iran"]
        assert await session.get(subscribers.Subscriber, -100) is None
    assert await rig.statuses() == {-1001234: "sent"}


async def test_server_errors_are_retried_with_back_off(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    rig.server.inject("sendMessage", chat_id=5, status=500, times=2)
    await rig.drain()
    assert len(rig.server.sent) == 1 and len(rig.server.requests_for("sendMessage")) == 3
    async with rig.db() as session:
        row = await session.scalar(select(Delivery))
    assert row is not None and row.status == "sent" and row.attempts == 3


async def test_server_errors_give_up_after_the_attempt_limit_and_log_it(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await add_chats(rig.db, [5])
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    rig.server.inject("sendMessage", chat_id=5, status=502, times=None)
    with caplog.at_level(logging.ERROR, logger="delivery"):
        for _ in range(40):
            await rig.sender.drain(rig.bot)
            if not await rig.pending():
                break
            await _sleep(0.05)
    assert await rig.statuses() == {5: "failed"}
    assert len(rig.server.requests_for("sendMessage")) == 3  # SEND_MAX_ATTEMPTS
    assert "gave up after 3 attempts" in caplog.text


async def test_a_bad_request_fails_at_once_and_is_never_retried(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    rig.server.inject("sendMessage", chat_id=5, status=400, description="Bad Request: message is too long", times=None)
    for _ in range(3):
        await rig.sender.drain(rig.bot)
    assert await rig.statuses() == {5: "failed"}
    assert len(rig.server.requests_for("sendMessage")) == 1


@pytest.mark.parametrize("rig", [{"read_timeout": 0.3}], indirect=True)
async def test_a_lost_answer_is_unknown_and_never_sent_again(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    rig.server.inject("sendMessage", chat_id=5, delay=0.8)
    await rig.sender.drain(rig.bot)
    await rig.server.wait_for_sent(1, chat_id=5)  # the slow answer did deliver it
    await rig.sender.drain(rig.bot)
    assert await rig.statuses() == {5: "unknown"}
    assert len(rig.server.sent) == 1


async def test_stories_due_together_go_out_as_one_digest_message(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    stories = [await add_story(rig.db, f"الخبر {name}") for name in NAMES[:3]]
    for story_id in stories:
        await push(rig.db, story_id, [5])
    await rig.drain()
    (message,) = rig.server.sent
    assert all(f"الخبر {name}" in message.plain_text for name in NAMES[:3])
    async with rig.db() as session:
        ids = {await outbox.sent_message(session, 5, story_id) for story_id in stories}
    assert ids == {message.message_id}


async def test_a_long_digest_is_split_between_stories_each_part_within_4096(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    long_digest = " ".join(["جملة طويلة من الخبر"] * 60) + "."
    stories = [await add_story(rig.db, f"القصة {name}", digest=long_digest) for name in NAMES]
    for story_id in stories:
        await push(rig.db, story_id, [5])
    await rig.drain(until=2, timeout=20)
    assert len(rig.server.sent) > 1
    async with rig.db() as session:
        for story_id, name in zip(stories, NAMES, strict=True):
            message_id = await outbox.sent_message(session, 5, story_id)
            (message,) = [m for m in rig.server.sent if m.message_id == message_id]
            assert f"القصة {name}" in message.plain_text
    assert sum(message.plain_text.count("القصة ") for message in rig.server.sent) == 8


async def test_a_daily_digest_waits_for_its_hour_then_goes_as_one_message(rig: Rig) -> None:
    hour = (datetime.now(UTC).hour + 3 + 2) % 24  # two hours from now in Riyadh
    await add_chats(rig.db, [5], mode=DAILY, digest_hour=hour)
    for name in NAMES[:2]:
        await push(rig.db, await add_story(rig.db, f"الخبر {name}"), [5])
    await rig.sender.drain(rig.bot)
    assert rig.server.sent == []
    async with rig.db.begin() as session:
        (at,) = set((await session.scalars(select(Delivery.not_before))).all())
        assert at is not None and timedelta(hours=1) < at - datetime.now(UTC) <= timedelta(hours=2)
        await session.execute(update(Delivery).values(not_before=datetime.now(UTC)))  # the hour has come
    await rig.drain()
    (message,) = rig.server.sent
    assert "الخبر الأول" in message.plain_text and "الخبر الثاني" in message.plain_text


async def test_instant_pushes_wait_through_quiet_hours(rig: Rig) -> None:
    hour = (datetime.now(UTC).hour + 3) % 24  # quiet from this Riyadh hour for two hours
    await add_chats(rig.db, [5], quiet_start=hour, quiet_end=(hour + 2) % 24)
    await push(rig.db, await add_story(rig.db, "خبر"), [5])
    await rig.sender.drain(rig.bot)
    assert rig.server.sent == []
    async with rig.db() as session:
        at = await session.scalar(select(Delivery.not_before))
    assert at is not None and at.astimezone(ZoneInfo(RIYADH)).minute == 0
    assert timedelta(hours=1) <= at - datetime.now(UTC) <= timedelta(hours=2)


async def test_forum_pushes_go_to_the_chosen_thread_and_fall_back_when_it_is_gone(rig: Rig) -> None:
    await add_chats(rig.db, [-1005, -1006], thread_id=42)
    story = await add_story(rig.db, "خبر")
    rig.server.inject("sendMessage", chat_id=-1006, status=400, description="Bad Request: message thread not found")
    await push(rig.db, story, [-1005, -1006])
    await rig.drain(until=2)
    threads = {message.chat_id: message.message_thread_id for message in rig.server.sent}
    assert threads == {-1005: 42, -1006: None}
    async with rig.db() as session:
        assert (await subscribers.preferences_of(session, -1006)).thread_id is None


# ------------------------------------------------------------------------------------------- edits


async def test_a_new_outlet_edits_the_sent_message_instead_of_pushing_again(rig: Rig) -> None:
    await add_chats(rig.db, [5, 6])
    story = await add_story(rig.db, "قمة الرياض", ["الرياض"])
    await push(rig.db, story, [5, 6])
    await rig.drain(until=2)
    async with rig.db.begin() as session:
        await add_outlet(session, story, "الشرق الأوسط")
        assert await outbox.story_changed(session, story) == 2
    await rig.sender.drain(rig.bot)
    assert len(rig.server.sent) == 2
    assert sorted(edit.chat_id for edit in rig.server.edits) == [5, 6]
    for chat in (5, 6):
        (message,) = rig.server.sent_to(chat)
        current = rig.server.message(chat, message.message_id)
        assert current is not None and "الشرق الأوسط" in current["text"] and "الرياض" in current["text"]
    await rig.sender.drain(rig.bot)
    assert len(rig.server.edits) == 2  # done once


async def test_an_edit_keeps_the_other_stories_of_a_digest_message(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    first, second = await add_story(rig.db, "الأول"), await add_story(rig.db, "الثاني")
    await push(rig.db, first, [5])
    await push(rig.db, second, [5])
    await rig.drain()
    async with rig.db.begin() as session:
        await add_outlet(session, second, "عكاظ")
        await outbox.story_changed(session, second)
    await rig.sender.drain(rig.bot)
    (edit,) = rig.server.edits
    assert edit.text is not None and "الأول" in edit.text and "عكاظ" in edit.text and len(rig.server.sent) == 1


async def test_unchanged_too_old_or_refused_edits_end_in_silence(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    await add_chats(rig.db, [5, 6, 7])
    story = await add_story(rig.db, "خبر")
    await push(rig.db, story, [5, 6, 7])
    await rig.drain(until=3)
    async with rig.db.begin() as session:
        await outbox.story_changed(session, story)  # nothing new to show: "message is not modified"
        await session.execute(
            update(Delivery).where(Delivery.chat_id == 6).values(sent_at=datetime.now(UTC) - timedelta(hours=49))
        )
    rig.server.inject("editMessageText", chat_id=7, status=400, description="Bad Request: message to edit not found")
    with caplog.at_level(logging.ERROR):
        await rig.sender.drain(rig.bot)
        await rig.sender.drain(rig.bot)
    assert rig.server.edits == [] and len(rig.server.sent) == 3
    assert len(rig.server.requests_for("editMessageText")) == 2  # chats 5 and 7; chat 6's message is too old
    async with rig.db() as session:
        assert await outbox.edits_due(session, 10) == []
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("rig", [{"max_retries": 0}], indirect=True)
async def test_an_edit_hit_by_429_waits_and_is_done_later(rig: Rig) -> None:
    await add_chats(rig.db, [5])
    story = await add_story(rig.db, "خبر", ["الرياض"])
    await push(rig.db, story, [5])
    await rig.drain()
    async with rig.db.begin() as session:
        await add_outlet(session, story, "عكاظ")
        await outbox.story_changed(session, story)
    rig.server.inject("editMessageText", retry_after=1)
    await rig.sender.drain(rig.bot)
    assert rig.server.edits == []
    await _sleep(1.0)
    await rig.sender.drain(rig.bot)
    assert len(rig.server.edits) == 1 and len(rig.server.sent) == 1
