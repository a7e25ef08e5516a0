"""The outbox on SQLite and PostgreSQL: unique per chat and story, claim → mark, crash recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage import outbox, subscribers
from storage.articles import Story
from storage.outbox import Delivery


async def _story(session, title: str = "خبر") -> int:
    story = Story(title=title, digest="خلاصة", published_at=datetime.now(UTC))
    session.add(story)
    await session.flush()
    return story.id


async def _chats(session, *chat_ids: int) -> None:
    for chat_id in chat_ids:
        await subscribers.touch(session, chat_id, chat_type="private", language="ar")


async def test_enqueue_is_unique_per_chat_and_story(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2, 3)
        story_id = await _story(session)
        assert await outbox.enqueue(session, story_id, [1, 2]) == 2
        assert await outbox.enqueue(session, story_id, [1, 2, 3]) == 1
        assert await outbox.enqueue(session, story_id, []) == 0
    async with db() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.chat_id))).all()
    assert [(row.chat_id, row.status) for row in rows] == [(1, "pending"), (2, "pending"), (3, "pending")]


async def test_claim_marks_sending_and_a_second_claim_gets_nothing(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2, 3)
        story_id = await _story(session)
        await outbox.enqueue(session, story_id, [1, 2, 3])
    async with db.begin() as session:
        first = await outbox.claim_batch(session, 2)
    async with db.begin() as session:
        second = await outbox.claim_batch(session, 10)
    async with db.begin() as session:
        third = await outbox.claim_batch(session, 10)
    assert [c.chat_id for c in first] == [1, 2]
    assert [c.chat_id for c in second] == [3]
    assert third == []
    assert all(c.attempts == 0 for c in first)  # attempts as they were before this claim


async def test_crash_recovery_marks_in_flight_unknown_never_pending(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2)
        story_id = await _story(session)
        await outbox.enqueue(session, story_id, [1, 2])
    async with db.begin() as session:
        claimed = await outbox.claim_batch(session, 10)
        await outbox.mark_sent(session, claimed[0].id, 77)
    async with db.begin() as session:  # the process "died" with the second one in flight
        assert await outbox.recover_in_flight(session) == 1
    async with db.begin() as session:
        assert await outbox.claim_batch(session, 10) == []
        counts = await outbox.counts(session)
        assert await outbox.sent_message(session, 1, story_id) == 77
    assert counts == {"sent": 1, "unknown": 1}


async def test_retry_waits_and_429_does_not_count_as_an_attempt(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1)
        story_id = await _story(session)
        await outbox.enqueue(session, story_id, [1])
    async with db.begin() as session:
        (claimed,) = await outbox.claim_batch(session, 1)
        await outbox.mark_retry(session, claimed.id, timedelta(seconds=60), "429", count=False)
    async with db.begin() as session:
        assert await outbox.claim_batch(session, 1) == []  # not before a minute
        later = datetime.now(UTC) + timedelta(seconds=61)
        (again,) = await outbox.claim_batch(session, 1, now=later)
    assert again.attempts == 0


async def test_blocked_chat_drops_pending_and_start_reactivates(db) -> None:
    async with db.begin() as session:
        await _chats(session, 5)
        await outbox.enqueue(session, await _story(session, "a"), [5])
        await outbox.enqueue(session, await _story(session, "b"), [5])
    async with db.begin() as session:
        await subscribers.deactivate(session, 5)
        await outbox.drop_chat(session, 5, "403: blocked")
        assert await outbox.counts(session) == {"dropped": 2}
        assert await subscribers.counts(session) == {"active": 0, "inactive": 1, "follows": 0}
    async with db.begin() as session:
        await subscribers.touch(session, 5, chat_type="private", language="en")
        row = await session.get(subscribers.Subscriber, 5)
        assert row is not None and row.active and row.language == "en"


async def test_chat_migration_moves_follows_and_deliveries(db) -> None:
    async with db.begin() as session:
        await subscribers.touch(session, -100, chat_type="group", language=None)
        await subscribers.follow(session, -100, "iran+russia")
        await outbox.enqueue(session, await _story(session), [-100])
    async with db.begin() as session:
        await subscribers.migrate_chat(session, -100, -1001234567890)
    async with db() as session:
        assert await subscribers.topics_of(session, -1001234567890) == ["iran+russia"]
        rows = (await session.scalars(select(Delivery))).all()
    assert [row.chat_id for row in rows] == [-1001234567890]
