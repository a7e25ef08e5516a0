"""Subscribers (chats) and the topics they follow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, utcnow
from storage.outbox import Delivery

INSTANT, HOURLY, DAILY = "instant", "hourly", "daily"
MODES = (INSTANT, HOURLY, DAILY)
DEFAULT_DIGEST_HOUR = 8


@dataclass(frozen=True)
class Preferences:
    """When and where a chat takes its pushes (changed with /settings)."""

    mode: str = INSTANT  # instant, hourly digest or daily digest
    timezone: str | None = None  # IANA name; None: the DEFAULT_TIMEZONE setting
    digest_hour: int = DEFAULT_DIGEST_HOUR  # local hour of the daily digest
    quiet_start: int | None = None  # local hour quiet hours begin; None: no quiet hours
    quiet_end: int | None = None  # local hour they end
    thread_id: int | None = None  # forum supergroups: the topic thread pushes go to


PREFERENCES = tuple(field.name for field in fields(Preferences))  # each is a Subscriber column of the same name


class Subscriber(Base):
    """A chat (private, group or channel) that talks to the bot."""

    __tablename__ = "subscribers"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_type: Mapped[str] = mapped_column(String(20), default="private")
    language: Mapped[str] = mapped_column(String(8), default="ar")
    active: Mapped[bool] = mapped_column(default=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16), default=INSTANT)  # instant, hourly or daily
    thread_id: Mapped[int | None]  # forum supergroups: the topic thread pushes go to
    digest_hour: Mapped[int] = mapped_column(default=DEFAULT_DIGEST_HOUR, server_default=str(DEFAULT_DIGEST_HOUR))
    quiet_start: Mapped[int | None]  # local hour quiet hours begin (None: no quiet hours)
    quiet_end: Mapped[int | None]  # local hour they end
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def preferences(self) -> Preferences:
        """The chat's delivery preferences."""
        return Preferences(**{name: getattr(self, name) for name in PREFERENCES})


class Follow(Base):
    """A chat following a topic (a canonical key from news.topics)."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("chat_id", "topic_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subscribers.chat_id", ondelete="CASCADE", onupdate="CASCADE")
    )
    topic_key: Mapped[str] = mapped_column(String(200), index=True)
    label: Mapped[str | None] = mapped_column(String(200))  # display name of a keyword topic, as written
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


async def touch(session: AsyncSession, chat_id: int, *, chat_type: str, language: str | None) -> Subscriber:
    """Create or refresh a chat's row; a chat that writes to the bot is active again."""
    subscriber = await session.get(Subscriber, chat_id)
    lang = "en" if (language or "").lower().startswith("en") else "ar"
    if subscriber is None:
        subscriber = Subscriber(chat_id=chat_id, chat_type=chat_type, language=lang)
        session.add(subscriber)
    else:
        subscriber.active = True
        subscriber.chat_type = chat_type
        if language:
            subscriber.language = lang
        subscriber.updated_at = utcnow()
    await session.flush()
    return subscriber


async def follow(session: AsyncSession, chat_id: int, topic_key: str, label: str | None = None) -> bool:
    """Follow a topic (with an optional display label); False when the chat already follows it."""
    exists = await session.scalar(select(Follow.id).where(Follow.chat_id == chat_id, Follow.topic_key == topic_key))
    if exists is not None:
        return False
    session.add(Follow(chat_id=chat_id, topic_key=topic_key, label=label))
    await session.flush()
    return True


async def unfollow(session: AsyncSession, chat_id: int, topic_key: str) -> bool:
    """Stop following a topic; False when the chat did not follow it."""
    result = await session.execute(delete(Follow).where(Follow.chat_id == chat_id, Follow.topic_key == topic_key))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def topics_of(session: AsyncSession, chat_id: int) -> list[str]:
    """The topic keys a chat follows, oldest first."""
    stmt = select(Follow.topic_key).where(Follow.chat_id == chat_id).order_by(Follow.id)
    return list((await session.scalars(stmt)).all())


async def followers_of(session: AsyncSession, topic_keys: Iterable[str]) -> list[int]:
    """Active chats following any of these topic keys (one indexed lookup, no scan of follows)."""
    keys = list(topic_keys)
    if not keys:
        return []
    stmt = (
        select(Follow.chat_id)
        .join(Subscriber, Subscriber.chat_id == Follow.chat_id)
        .where(Follow.topic_key.in_(keys), Subscriber.active.is_(True))
        .distinct()
    )
    return sorted((await session.scalars(stmt)).all())


async def deactivate(session: AsyncSession, chat_id: int) -> None:
    """Mark a chat inactive (it blocked the bot, left, or no longer exists)."""
    await session.execute(
        update(Subscriber).where(Subscriber.chat_id == chat_id).values(active=False, updated_at=utcnow())
    )


async def migrate_chat(session: AsyncSession, old_id: int, new_id: int) -> None:
    """Move a group that became a supergroup to its new chat id (follows and deliveries follow on update).

    When the new id is known already (someone used the bot there first), the group's follows and deliveries the
    new chat lacks are moved to it before the old row goes.
    """
    if await session.get(Subscriber, new_id) is not None:
        followed = select(Follow.topic_key).where(Follow.chat_id == new_id)
        await session.execute(
            update(Follow).where(Follow.chat_id == old_id, Follow.topic_key.not_in(followed)).values(chat_id=new_id)
        )
        queued = select(Delivery.story_id).where(Delivery.chat_id == new_id)
        await session.execute(
            update(Delivery).where(Delivery.chat_id == old_id, Delivery.story_id.not_in(queued)).values(chat_id=new_id)
        )
        await session.execute(delete(Subscriber).where(Subscriber.chat_id == old_id))
        return
    await session.execute(update(Subscriber).where(Subscriber.chat_id == old_id).values(chat_id=new_id))


async def chats(session: AsyncSession, chat_ids: Iterable[int]) -> dict[int, Subscriber]:
    """The rows of these chats, by id (missing chats are left out)."""
    ids = list(dict.fromkeys(chat_ids))
    found: dict[int, Subscriber] = {}
    for start in range(0, len(ids), 500):
        stmt = select(Subscriber).where(Subscriber.chat_id.in_(ids[start : start + 500]))
        found.update((row.chat_id, row) for row in (await session.scalars(stmt)).all())
    return found


async def preferences_of(session: AsyncSession, chat_id: int) -> Preferences:
    """A chat's delivery preferences (the defaults for a chat the bot does not know)."""
    subscriber = await session.get(Subscriber, chat_id)
    return subscriber.preferences if subscriber is not None else Preferences()


async def save_preferences(session: AsyncSession, chat_id: int, preferences: Preferences) -> None:
    """Store a chat's delivery preferences."""
    await session.execute(
        update(Subscriber).where(Subscriber.chat_id == chat_id).values(**asdict(preferences), updated_at=utcnow())
    )


async def set_thread(session: AsyncSession, chat_id: int, thread_id: int | None) -> None:
    """Send a forum chat's pushes to this topic thread (None: the General topic)."""
    await session.execute(update(Subscriber).where(Subscriber.chat_id == chat_id).values(thread_id=thread_id))


async def counts(session: AsyncSession) -> dict[str, int]:
    """Active and inactive chats, and follows."""
    rows = await session.execute(select(Subscriber.active, func.count()).group_by(Subscriber.active))
    by_state = {bool(active): count for active, count in rows.all()}
    follows = await session.scalar(select(func.count()).select_from(Follow))
    return {"active": by_state.get(True, 0), "inactive": by_state.get(False, 0), "follows": int(follows or 0)}


async def popular_topics(session: AsyncSession, limit: int = 5) -> list[str]:
    """The most followed topic keys."""
    stmt = select(Follow.topic_key).group_by(Follow.topic_key).order_by(func.count().desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def followed_among(session: AsyncSession, topic_keys: Iterable[str]) -> set[str]:
    """Which of these topic keys at least one chat follows."""
    keys = list(topic_keys)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        stmt = select(Follow.topic_key).where(Follow.topic_key.in_(keys[start : start + 500])).distinct()
        found.update((await session.scalars(stmt)).all())
    return found


async def follows_of(session: AsyncSession, chat_id: int) -> list[tuple[str, str | None]]:
    """(topic key, display label or None) of each topic a chat follows, oldest first."""
    stmt = select(Follow.topic_key, Follow.label).where(Follow.chat_id == chat_id).order_by(Follow.id)
    return [(key, label) for key, label in (await session.execute(stmt)).all()]


async def followed_keywords(session: AsyncSession) -> set[str]:
    """Every keyword topic key ("kw:…") some chat follows (an index range scan on topic_key)."""
    stmt = select(Follow.topic_key).where(Follow.topic_key >= "kw:", Follow.topic_key < "kw;").distinct()
    return set((await session.scalars(stmt)).all())
