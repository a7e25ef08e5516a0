"""Plain-text health reports for admins (/feeds, /stats and the `feeds` CLI command)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import articles, outbox, subscribers
from storage import feeds as feed_store


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 90:
        return f"{seconds}s ago"
    if seconds < 5400:
        return f"{seconds // 60}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


async def feeds_report(session: AsyncSession, *, since: datetime, now: datetime | None = None) -> list[str]:
    """One block per feed: status, last success, new articles since `since`, failures and the last error."""
    now = now or datetime.now(since.tzinfo)
    counts = await articles.entries_since_by_feed(session, since)
    lines = []
    for feed in await feed_store.listed(session):
        state = feed.status if not feed.error_count else f"{feed.status}, {feed.error_count} failures in a row"
        lines.append(f"{feed.display_name} [{state}]")
        lines.append(f"  {feed.url}")
        lines.append(f"  last success: {_ago(feed.last_success_at, now)}; new in 24h: {counts.get(feed.id, 0)}")
        if feed.last_error:
            lines.append(f"  last error: {feed.last_error} ({_ago(feed.last_error_at, now)})")
    return lines or ["no feeds: list them in FEEDS"]


async def stats_report(session: AsyncSession, *, since: datetime) -> list[str]:
    """Subscribers, follows, stories since `since`, and deliveries by status."""
    chats = await subscribers.counts(session)
    deliveries = await outbox.counts(session)
    feeds = await feed_store.count_by_status(session)
    return [
        f"subscribers: {chats['active']} active, {chats['inactive']} inactive",
        f"follows: {chats['follows']}",
        f"stories in 24h: {await articles.count_stories_since(session, since)}",
        "deliveries: "
        + ", ".join(
            f"{status} {deliveries.get(status, 0)}"
            for status in ("sent", "pending", "sending", "failed", "unknown", "dropped")
        ),
        "feeds: " + (", ".join(f"{status} {count}" for status, count in sorted(feeds.items())) or "none"),
    ]
