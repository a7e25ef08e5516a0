"""The outbox on SQLite and PostgreSQL: unique per chat and story, plan → claim → mark, crash recovery, edits."""

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


async def _queue(session, story_id: int, chat_ids: list[int], at: datetime | None = None) -> None:
    """Enqueue and plan at once (the sender plans by each chat's preferences)."""
    await outbox.enqueue(session, story_id, chat_ids)
    await outbox.plan(session, chat_ids, at or datetime.now(UTC) - timedelta(seconds=1))


async def test_only_planned_deliveries_are_claimed(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2)
        await outbox.enqueue(session, await _story(session), [1, 2])
        assert sorted(await outbox.unplanned_chats(session)) == [1, 2]
        assert await outbox.claim_chats(session, 10) == []
        await outbox.plan(session, [1], datetime.now(UTC) - timedelta(seconds=1))
        await outbox.plan(session, [2], datetime.now(UTC) + timedelta(hours=1))
        assert await outbox.unplanned_chats(session) == []
        (claimed,) = await outbox.claim_chats(session, 10)
        assert claimed.chat_id == 1
        later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
        assert [c.chat_id for c in await outbox.claim_chats(session, 10, now=later)] == [2]


async def test_claim_marks_sending_and_a_second_claim_gets_nothing(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2, 3)
        await _queue(session, await _story(session), [1, 2, 3])
    async with db.begin() as session:
        first = await outbox.claim_chats(session, 2)
    async with db.begin() as session:
        second = await outbox.claim_chats(session, 10)
    async with db.begin() as session:
        third = await outbox.claim_chats(session, 10)
    assert [c.chat_id for c in first] == [1, 2]
    assert [c.chat_id for c in second] == [3]
    assert third == []
    assert all(c.attempts == 0 for c in first)  # attempts as they were before this claim


async def test_a_chat_claims_its_due_stories_together_and_busy_chats_wait(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2)
        for title in ("a", "b", "c"):
            await _queue(session, await _story(session, title), [1, 2])
    async with db.begin() as session:
        (first,) = await outbox.claim_chats(session, 10, per_chat=2, exclude=[2])
        assert first.chat_id == 1 and len(first.deliveries) == 2 and first.ids == sorted(first.ids)
        rest = await outbox.claim_chats(session, 10, per_chat=5)
    assert [(c.chat_id, len(c.deliveries)) for c in rest] == [(2, 3), (1, 1)]  # oldest due first


async def test_crash_recovery_marks_in_flight_unknown_never_pending(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2)
        story_id = await _story(session)
        await _queue(session, story_id, [1, 2])
    async with db.begin() as session:
        claimed = await outbox.claim_chats(session, 10)
        await outbox.mark_sent(session, claimed[0].ids, 77)
    async with db.begin() as session:  # the process "died" with the second one in flight
        assert await outbox.recover_in_flight(session) == 1
    async with db.begin() as session:
        assert await outbox.claim_chats(session, 10) == []
        counts = await outbox.counts(session)
        assert await outbox.sent_message(session, 1, story_id) == 77
    assert counts == {"sent": 1, "unknown": 1}


async def test_retry_waits_and_429_does_not_count_as_an_attempt(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1)
        story_id = await _story(session)
        await _queue(session, story_id, [1])
    async with db.begin() as session:
        (claimed,) = await outbox.claim_chats(session, 1)
        await outbox.mark_retry(session, claimed.ids, timedelta(seconds=60), "429", count=False)
    async with db.begin() as session:
        assert await outbox.claim_chats(session, 1) == []  # not before a minute
        later = datetime.now(UTC) + timedelta(seconds=61)
        (again,) = await outbox.claim_chats(session, 1, now=later)
        await outbox.mark_retry(session, again.ids, timedelta(0), "500", count=True)
        (third,) = await outbox.claim_chats(session, 1, now=later)
    assert again.attempts == 0 and third.attempts == 1


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


async def test_migration_to_a_chat_already_known_keeps_the_groups_follows_and_pending_pushes(db) -> None:
    """Someone used the bot in the new supergroup before the first push found out about the migration: the old
    group's topics and pending pushes move over instead of being deleted with the old row."""
    new = -1001234567891
    async with db.begin() as session:
        await subscribers.touch(session, -101, chat_type="group", language=None)
        await subscribers.follow(session, -101, "iran+russia")
        await subscribers.follow(session, -101, "oil")
        await subscribers.touch(session, new, chat_type="supergroup", language=None)
        await subscribers.follow(session, new, "oil")
        first, second = await _story(session, "أ"), await _story(session, "ب")
        await outbox.enqueue(session, first, [-101, new])
        await outbox.enqueue(session, second, [-101])
    async with db.begin() as session:
        await subscribers.migrate_chat(session, -101, new)
    async with db() as session:
        assert sorted(await subscribers.topics_of(session, new)) == ["iran+russia", "oil"]
        assert await session.get(subscribers.Subscriber, -101) is None
        rows = (await session.scalars(select(Delivery).order_by(Delivery.story_id))).all()
    assert [(row.chat_id, row.story_id) for row in rows] == [(new, first), (new, second)]


async def test_unknown_only_touches_rows_in_flight(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1, 2)
        await _queue(session, await _story(session), [1, 2])
    async with db.begin() as session:
        claimed = await outbox.claim_chats(session, 10)
        await outbox.mark_sent(session, claimed[0].ids, 5)
        await outbox.mark_unknown(session, [d for c in claimed for d in c.ids], "read timeout")
        assert await outbox.counts(session) == {"sent": 1, "unknown": 1}


async def test_settings_change_replans_pending_deliveries(db) -> None:
    async with db.begin() as session:
        await _chats(session, 1)
        await _queue(session, await _story(session), [1], at=datetime.now(UTC) + timedelta(hours=5))
        await outbox.reschedule_chat(session, 1)
        assert await outbox.unplanned_chats(session) == [1]


async def test_story_change_flags_recent_sent_messages_for_an_edit(db) -> None:
    now = datetime.now(UTC)
    async with db.begin() as session:
        await _chats(session, 1, 2, 3, 4)
        story_id, other = await _story(session, "a"), await _story(session, "b")
        await _queue(session, story_id, [1, 2, 3, 4])
        await _queue(session, other, [1])
        by_chat = {c.chat_id: c for c in await outbox.claim_chats(session, 10)}
        await outbox.mark_sent(session, by_chat[1].ids, 10)  # one digest message with both stories
        await outbox.mark_sent(session, by_chat[2].ids, 20)
        await outbox.mark_failed(session, by_chat[3].ids, "400")  # chat 4 stays in flight
    async with db.begin() as session:
        assert await outbox.story_changed(session, story_id, now=now) == 3  # chats 1, 2 and the one in flight
        await outbox.mark_sent(session, by_chat[4].ids, 40)
    async with db() as session:
        due = await outbox.edits_due(session, 10)
    assert [(d.chat_id, d.message_id, len(d.story_ids)) for d in due] == [(1, 10, 2), (2, 20, 1), (4, 40, 1)]
    assert due[0].story_ids == (story_id, other)
    async with db.begin() as session:
        await outbox.story_changed(session, story_id, now=now + timedelta(seconds=5))  # a newer change
        for item in due:
            await outbox.edit_done(session, item)
        assert {d.chat_id for d in await outbox.edits_due(session, 10)} == {1, 2, 4}
        for item in await outbox.edits_due(session, 10):
            await outbox.edit_done(session, item)
        assert await outbox.edits_due(session, 10) == []
        assert await outbox.story_changed(session, story_id, now=now + outbox.EDITABLE_FOR * 2) == 0  # too old
