"""The delivery outbox: one row per chat and story, claimed, sent and marked, never sent twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, func, select, update
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
    not_before: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    edit_requested_at: Mapped[datetime | None] = mapped_column(index=True)  # the story changed after the send


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for sending."""

    id: int
    chat_id: int
    story_id: int
    attempts: int


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
        stmt = insert(Delivery).values(rows[start : start + 1000]).on_conflict_do_nothing(
            index_elements=["chat_id", "story_id"]
        )
        result = await session.execute(stmt)
        added += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return added


async def claim_batch(session: AsyncSession, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Claim up to `limit` due pending deliveries (oldest first) by marking them `sending`; commit before sending."""
    now = now or utcnow()
    stmt = (
        select(Delivery.id, Delivery.chat_id, Delivery.story_id, Delivery.attempts)
        .where(Delivery.status == PENDING)
        .where((Delivery.not_before.is_(None)) | (Delivery.not_before <= now))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = [Claimed(*row) for row in (await session.execute(stmt)).all()]
    if claimed:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([c.id for c in claimed]), Delivery.status == PENDING)
            .values(status=SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
        )
    return claimed


async def mark_sent(session: AsyncSession, delivery_id: int, message_id: int | None) -> None:
    """The message reached Telegram."""
    await session.execute(
        update(Delivery).where(Delivery.id == delivery_id).values(status=SENT, message_id=message_id, sent_at=utcnow())
    )


async def mark_retry(session: AsyncSession, delivery_id: int, delay: timedelta, error: str, *, count: bool) -> None:
    """Put a delivery back to pending after a delay (429 does not count as an attempt)."""
    values: dict[str, object] = {"status": PENDING, "not_before": utcnow() + delay, "last_error": error[:500]}
    if not count:
        values["attempts"] = Delivery.attempts - 1
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


async def mark_failed(session: AsyncSession, delivery_id: int, error: str) -> None:
    """Give up on a delivery."""
    await session.execute(
        update(Delivery).where(Delivery.id == delivery_id).values(status=FAILED, last_error=error[:500])
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


async def story_changed(session: AsyncSession, story_id: int) -> None:
    """A story already stored gained an article or outlet.

    The walking skeleton only records nothing here: deliveries are unique per chat and story, so a grown
    story is never pushed twice. Editing already-sent messages to add the new source is the delivery issue's.
    """
