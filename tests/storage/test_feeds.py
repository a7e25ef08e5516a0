"""Feed rows: syncing with FEEDS, due feeds, error state, back-off and pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import feeds

BACKOFF = feeds.Backoff(interval=timedelta(minutes=5), max_failures=3)


async def test_sync_adds_renames_and_retires_feeds(db) -> None:
    async with db.begin() as session:
        await feeds.sync_feeds(session, [("http://a/rss", "A"), ("http://b/rss", None)])
    async with db.begin() as session:
        await feeds.sync_feeds(session, [("http://a/rss", "Renamed")])
        listed = await feeds.listed(session)
    assert [(f.url, f.display_name) for f in listed] == [("http://a/rss", "Renamed")]
    async with db.begin() as session:
        await feeds.sync_feeds(session, [("http://a/rss", "A"), ("http://b/rss", None)])
        assert [f.url for f in await feeds.due(session)] == ["http://a/rss", "http://b/rss"]


async def test_errors_back_off_pause_and_success_resumes(db) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.begin() as session:
        await feeds.sync_feeds(session, [("http://a/rss", None)])
        (feed,) = await feeds.due(session)
        feeds.record_error(feed, "HTTP 404 (not found)", backoff=BACKOFF, now=now)
        assert feed.next_check_at == now + timedelta(minutes=10)
        feeds.record_error(feed, "timeout", backoff=BACKOFF, now=now)
        assert feed.status == feeds.ACTIVE
        feeds.record_error(feed, "timeout", backoff=BACKOFF, retry_after=7200, now=now)
        assert feed.status == feeds.PAUSED and feed.error_count == 3
        assert feed.next_check_at == now + timedelta(hours=2)  # Retry-After wins over a shorter back-off
        assert await feeds.due(session, now + timedelta(hours=1)) == []
        assert len(await feeds.due(session, now + timedelta(hours=3))) == 1
    async with db.begin() as session:
        (feed,) = await feeds.listed(session)
        assert feed.last_error == "timeout" and feed.last_error_at == now
        feeds.record_success(feed, interval=timedelta(minutes=5), etag='"v1"', last_modified=None, now=now)
        assert (feed.status, feed.error_count, feed.last_error, feed.etag) == (feeds.ACTIVE, 0, None, '"v1"')
        assert now + timedelta(minutes=5) <= feed.next_check_at <= now + timedelta(minutes=5.5)


def test_backoff_is_capped_at_a_day() -> None:
    assert BACKOFF.next_delay(40) == timedelta(hours=24)


async def test_a_warning_is_shown_without_counting_a_failure(db) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.begin() as session:
        await feeds.sync_feeds(session, [("http://a/rss", None)])
        (feed,) = await feeds.due(session)
        feeds.record_error(feed, "timeout", backoff=BACKOFF, now=now)
        later = now + timedelta(minutes=10)
        feeds.record_success(
            feed, interval=timedelta(minutes=5), etag=None, last_modified=None, warning="truncated document", now=later
        )
        assert (feed.status, feed.error_count, feed.last_error) == (feeds.ACTIVE, 0, "truncated document")
        assert feed.last_error_at == feed.last_success_at == later
        feeds.record_success(feed, interval=timedelta(minutes=5), etag=None, last_modified=None, now=later)
        assert feed.last_error is None
