"""The delivery outbox: one row per chat and story, planned, claimed, sent and marked, never sent twice.

A row's life: `pending` with no `not_before` (new) → planned (`not_before` set to when the chat takes pushes) →
claimed (`sending`, committed before the send) → `sent` with the message id, or back to `pending` with a later
`not_before` (429, server error), or `failed`, `dropped` (the chat is gone) or `unknown` (it was in flight when the
process died or the answer was lost: it may have arrived, so it is never sent again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, utcnow

PENDING = "pending"
SENDING = "sending"  # claimed: the message may be in flight
SENT = "sent"
FAILED = "failed"  # gave up (bad request, too many transient errors)
UNKNOWN = "unknown"  # was in flight when the process died: may or may not have arrived, never re-sent
DROPPED = "dropped"  # the chat blocked the bot or is gone

EDITABLE_FOR = timedelta(hours=48)  # Telegram refuses to edit older messages
CHUNK = 500  # ids per IN (...) list


class Delivery(Base):
    """A story to push to a chat."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("chat_id", "story_id"),
        Index("ix_deliveries_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subscribers.chat_id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]  # None: not planned yet (see delivery.next_send)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    edit_requested_at: Mapped[datetime | None] = mapped_column(index=True)  # the story changed after the send


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for sending; `attempts` as it was before this claim."""

    id: int
    chat_id: int
    story_id: int
    attempts: int


@dataclass(frozen=True)
class ClaimedChat:
    """The due deliveries of one chat, claimed together so they can go out as one message."""

    chat_id: int
    deliveries: tuple[Claimed, ...]

    @property
    def ids(self) -> list[int]:
        """The delivery ids, oldest first."""
        return [delivery.id for delivery in self.deliveries]

    @property
    def attempts(self) -> int:
        """Attempts before this claim (the most of any of its deliveries)."""
        return max(delivery.attempts for delivery in self.deliveries)


@dataclass(frozen=True)
class EditDue:
    """A sent message whose stories changed: re-render and edit it."""

    chat_id: int
    message_id: int
    story_ids: tuple[int, ...]  # every story in the message, in the order they were sent
    sent_at: datetime
    requested_at: datetime  # the latest change seen; later changes keep the message due


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


async def _set(session: AsyncSession, ids: Iterable[int], **values: object) -> None:
    """Update these deliveries."""
    for chunk in _chunks(list(ids)):
        await session.execute(update(Delivery).where(Delivery.id.in_(chunk)).values(**values))


async def enqueue(session: AsyncSession, story_id: int, chat_ids: Iterable[int]) -> int:
    """Queue a story for chats; a chat already queued for it is skipped by the unique key. Returns rows added."""
    now = utcnow()
    rows = [{"chat_id": chat_id, "story_id": story_id, "status": PENDING, "created_at": now} for chat_id in chat_ids]
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    added = 0
    for start in range(0, len(rows), 1000):
        stmt = (
            insert(Delivery)
            .values(rows[start : start + 1000])
            .on_conflict_do_nothing(index_elements=["chat_id", "story_id"])
        )
        result = await session.execute(stmt)
        added += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return added


async def unplanned_chats(session: AsyncSession, limit: int = 10_000) -> list[int]:
    """Chats with new deliveries whose send time is not decided yet."""
    stmt = (
        select(Delivery.chat_id)
        .where(Delivery.status == PENDING, Delivery.not_before.is_(None))
        .distinct()
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def plan(session: AsyncSession, chat_ids: Sequence[int], at: datetime) -> None:
    """Decide when the new deliveries of these chats go out."""
    for chunk in _chunks(chat_ids):
        await session.execute(
            update(Delivery)
            .where(Delivery.chat_id.in_(chunk), Delivery.status == PENDING, Delivery.not_before.is_(None))
            .values(not_before=at)
        )


async def reschedule_chat(session: AsyncSession, chat_id: int) -> None:
    """Forget when a chat's pending deliveries go out (its settings changed): they are planned again."""
    await session.execute(
        update(Delivery).where(Delivery.chat_id == chat_id, Delivery.status == PENDING).values(not_before=None)
    )


async def claim_chats(
    session: AsyncSession,
    max_chats: int,
    *,
    per_chat: int = 20,
    exclude: Iterable[int] = (),
    now: datetime | None = None,
) -> list[ClaimedChat]:
    """Claim the due deliveries of up to `max_chats` chats (oldest first) by marking them `sending`.

    Commit before sending: a claimed row is never claimed again, so a crash can lose it but never send it twice.
    """
    now = now or utcnow()
    due = (Delivery.status == PENDING) & (Delivery.not_before <= now)
    skip = list(exclude)
    if skip:
        due = due & Delivery.chat_id.not_in(skip)
    candidates = select(Delivery.chat_id).where(due).order_by(Delivery.id).limit(max_chats * per_chat)
    chat_ids = list(dict.fromkeys((await session.scalars(candidates)).all()))[:max_chats]
    if not chat_ids:
        return []
    stmt = (
        select(Delivery.id, Delivery.chat_id, Delivery.story_id, Delivery.attempts)
        .where(due, Delivery.chat_id.in_(chat_ids))
        .order_by(Delivery.id)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    groups: dict[int, list[Claimed]] = {}
    for row in (await session.execute(stmt)).all():
        group = groups.setdefault(row.chat_id, [])
        if len(group) < per_chat:
            group.append(Claimed(*row))
    claimed = [ClaimedChat(chat_id, tuple(group)) for chat_id, group in groups.items()]
    ids = [delivery_id for group in claimed for delivery_id in group.ids]
    for chunk in _chunks(ids):
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk), Delivery.status == PENDING)
            .values(status=SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
        )
    return claimed


async def mark_sent(session: AsyncSession, ids: Iterable[int], message_id: int | None) -> None:
    """The message carrying these deliveries reached Telegram."""
    await _set(session, ids, status=SENT, message_id=message_id, sent_at=utcnow(), last_error=None)


async def mark_retry(session: AsyncSession, ids: Iterable[int], delay: timedelta, error: str, *, count: bool) -> None:
    """Put deliveries back to pending after a delay (a 429 or a chat migration does not count as an attempt)."""
    values: dict[str, object] = {"status": PENDING, "not_before": utcnow() + delay, "last_error": error[:500]}
    if not count:
        values["attempts"] = Delivery.attempts - 1
    await _set(session, ids, **values)


async def mark_failed(session: AsyncSession, ids: Iterable[int], error: str) -> None:
    """Give up on deliveries."""
    await _set(session, ids, status=FAILED, last_error=error[:500])


async def mark_unknown(session: AsyncSession, ids: Iterable[int], error: str) -> None:
    """The send may or may not have arrived (its answer was lost): never send these again."""
    for chunk in _chunks(list(ids)):
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk), Delivery.status == SENDING)
            .values(status=UNKNOWN, last_error=error[:500])
        )


async def drop_chat(session: AsyncSession, chat_id: int, reason: str) -> None:
    """Drop every pending delivery of a chat that blocked the bot or is gone."""
    await session.execute(
        update(Delivery)
        .where(Delivery.chat_id == chat_id, Delivery.status.in_((PENDING, SENDING)))
        .values(status=DROPPED, last_error=reason[:500])
    )


async def recover_in_flight(session: AsyncSession) -> int:
    """After a crash: deliveries left `sending` may have arrived, so mark them unknown instead of re-sending."""
    result = await session.execute(
        update(Delivery).where(Delivery.status == SENDING).values(status=UNKNOWN, last_error="in flight at a crash")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def counts(session: AsyncSession) -> dict[str, int]:
    """Deliveries by status."""
    rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: count for status, count in rows.all()}


async def sent_message(session: AsyncSession, chat_id: int, story_id: int) -> int | None:
    """The message id a story was sent as to a chat, if it was."""
    stmt = select(Delivery.message_id).where(
        Delivery.chat_id == chat_id, Delivery.story_id == story_id, Delivery.status == SENT
    )
    return await session.scalar(stmt)


async def story_changed(session: AsyncSession, story_id: int, now: datetime | None = None) -> int:
    """A story already stored gained an article or outlet: ask for its sent messages to be edited.

    Only messages that can still be edited are flagged (sent within EDITABLE_FOR, or in flight now); pending
    deliveries need nothing, they are rendered with every source when they go out. Returns the rows flagged.
    """
    return await stories_changed(session, [story_id], now=now)


# The ingest runs this for every feed: built once, given its values when run. It is not matched against the
# session's loaded deliveries (the ingest has none): that evaluation cost more than the UPDATE itself.
_FLAG_CHANGED = (
    update(Delivery)
    .where(
        Delivery.story_id.in_(bindparam("ids", expanding=True)),
        (Delivery.status == SENDING) | ((Delivery.status == SENT) & (Delivery.sent_at >= bindparam("sent_since"))),
    )
    .values(edit_requested_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


async def stories_changed(session: AsyncSession, story_ids: Sequence[int], now: datetime | None = None) -> int:
    """`story_changed` for several stories at once (one UPDATE per few hundred stories)."""
    now = now or utcnow()
    flagged = 0
    for chunk in _chunks(sorted(set(story_ids))):
        values = {"ids": chunk, "sent_since": now - EDITABLE_FOR, "now": now}
        result = await session.execute(_FLAG_CHANGED, values)
        flagged += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return flagged


async def edits_due(session: AsyncSession, limit: int) -> list[EditDue]:
    """Sent messages that carry a changed story, with every story each one carries."""
    flagged = (
        select(Delivery.chat_id, Delivery.message_id, func.max(Delivery.edit_requested_at))
        .where(Delivery.edit_requested_at.is_not(None), Delivery.status == SENT, Delivery.message_id.is_not(None))
        .group_by(Delivery.chat_id, Delivery.message_id)
        .order_by(func.min(Delivery.id))
        .limit(limit)
    )
    due = []
    for chat_id, message_id, requested_at in (await session.execute(flagged)).all():
        rows = (
            await session.execute(
                select(Delivery.story_id, Delivery.sent_at)
                .where(Delivery.chat_id == chat_id, Delivery.message_id == message_id, Delivery.status == SENT)
                .order_by(Delivery.id)
            )
        ).all()
        if not rows:
            continue
        sent_at = min((row.sent_at for row in rows if row.sent_at is not None), default=requested_at)
        due.append(EditDue(chat_id, message_id, tuple(row.story_id for row in rows), sent_at, requested_at))
    return due


async def edit_done(session: AsyncSession, due: EditDue) -> None:
    """The message was edited (or will not be): clear the changes it covered, keep any newer one."""
    await session.execute(
        update(Delivery)
        .where(
            Delivery.chat_id == due.chat_id,
            Delivery.message_id == due.message_id,
            Delivery.edit_requested_at <= due.requested_at,
        )
        .values(edit_requested_at=None)
    )
