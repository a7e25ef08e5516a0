"""Feeds: the admin's list, HTTP validators and per-feed error state."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, utcnow

ACTIVE = "active"
PAUSED = "paused"  # too many consecutive failures; retried rarely, resumes on success
REMOVED = "removed"  # no longer listed in FEEDS
MAX_ETAG, MAX_LAST_MODIFIED = 500, 100  # lengths of the validator columns


class Feed(Base):
    """A polled RSS/Atom feed."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    etag: Mapped[str | None] = mapped_column(String(MAX_ETAG))
    last_modified: Mapped[str | None] = mapped_column(String(MAX_LAST_MODIFIED))
    error_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def display_name(self) -> str:
        """The admin's name for the feed, else its own title, else its host."""
        return self.name or self.title or self.url.split("/")[2]


@dataclass(frozen=True)
class Backoff:
    """How failing feeds are retried."""

    interval: timedelta
    max_failures: int

    def next_delay(self, error_count: int, retry_after: float | None = None) -> timedelta:
        """Exponential back-off from the poll interval, capped at a day, never shorter than Retry-After."""
        delay = self.interval * (2 ** min(error_count, 10))
        delay = min(delay, timedelta(hours=24))
        if retry_after:
            delay = max(delay, timedelta(seconds=min(retry_after, 86_400)))
        return delay


async def sync_feeds(session: AsyncSession, specs: Iterable[tuple[str, str | None]]) -> None:
    """Make the feeds table follow the configured list: add new feeds, revive listed ones, retire others."""
    wanted = dict(specs)
    rows = {feed.url: feed for feed in (await session.scalars(select(Feed))).all()}
    for url, name in wanted.items():
        feed = rows.get(url)
        if feed is None:
            session.add(Feed(url=url, name=name, next_check_at=utcnow()))
        else:
            feed.name = name
            if feed.status == REMOVED:
                feed.status = ACTIVE
                feed.error_count = 0
                feed.next_check_at = utcnow()
    for url, feed in rows.items():
        if url not in wanted and feed.status != REMOVED:
            feed.status = REMOVED
    await session.flush()


async def due(session: AsyncSession, now: datetime | None = None) -> list[Feed]:
    """Feeds to poll now: active or paused ones whose next check has come."""
    now = now or utcnow()
    stmt = (
        select(Feed)
        .where(Feed.status.in_((ACTIVE, PAUSED)))
        .where((Feed.next_check_at.is_(None)) | (Feed.next_check_at <= now))
        .order_by(Feed.next_check_at.nulls_first(), Feed.id)
    )
    return list((await session.scalars(stmt)).all())


async def listed(session: AsyncSession) -> list[Feed]:
    """Every feed that is not removed, in id order."""
    stmt = select(Feed).where(Feed.status != REMOVED).order_by(Feed.id)
    return list((await session.scalars(stmt)).all())


def record_success(
    feed: Feed,
    *,
    interval: timedelta,
    etag: str | None,
    last_modified: str | None,
    title: str | None = None,
    warning: str | None = None,
    now: datetime | None = None,
) -> None:
    """Clear the error state after a successful (or not-modified) fetch and schedule the next one.

    A `warning` (a problem that still let items out: truncated or malformed XML, bad bytes) is kept as the
    last error, with no failure counted, so admins see it in /feeds.
    """
    now = now or utcnow()
    feed.status = ACTIVE
    feed.error_count = 0
    feed.last_error = warning[:500] if warning else None
    if warning:
        feed.last_error_at = now
    feed.last_success_at = now
    feed.last_checked_at = now
    # A validator longer than its column is not stored (a cut one would never match; the feed is fetched whole).
    if etag:
        feed.etag = etag if len(etag) <= MAX_ETAG else None
    if last_modified:
        feed.last_modified = last_modified if len(last_modified) <= MAX_LAST_MODIFIED else None
    if title:
        feed.title = title[:500]
    jitter = interval.total_seconds() * random.uniform(0, 0.1)
    feed.next_check_at = now + interval + timedelta(seconds=jitter)


def record_error(
    feed: Feed, reason: str, *, backoff: Backoff, retry_after: float | None = None, now: datetime | None = None
) -> None:
    """Write a failure on the feed's row, back off exponentially and pause after too many in a row."""
    now = now or utcnow()
    feed.error_count += 1
    feed.last_error = reason[:500]
    feed.last_error_at = now
    feed.last_checked_at = now
    if feed.error_count >= backoff.max_failures:
        feed.status = PAUSED
    feed.next_check_at = now + backoff.next_delay(feed.error_count, retry_after)


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """How many feeds are in each status."""
    rows = await session.execute(select(Feed.status, func.count()).group_by(Feed.status))
    return {status: count for status, count in rows.all()}
