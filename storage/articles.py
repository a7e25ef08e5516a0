"""Stories, articles (stored once) and entries (each outlet's sighting of an article)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Select, String, Text, UniqueConstraint, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.sql.elements import BindParameter

from news.models import Source, StoryView
from storage.db import Base, utcnow
from storage.feeds import Feed


class Story(Base):
    """One event, reported by one or many outlets."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryTopic(Base):
    """A topic key (see news.topics) a story is about; indexed so matching never scans follows."""

    __tablename__ = "story_topics"

    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True)
    topic_key: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class Article(Base):
    """A cleaned article text, stored once however many outlets carry it."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048), index=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Entry(Base):
    """One feed's item, pointing at the article it carries; unique per feed and key (Miniflux's feed_id+hash)."""

    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("feed_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


Index("ix_stories_published_id", Story.published_at, Story.id)


_CHUNK = 500  # values per IN (...) list


def _in(name: str) -> BindParameter[Any]:
    """A parameter standing for a list of values in `IN (...)`."""
    return bindparam(name, expanding=True)


# The ingest runs these for every feed: they are built once and given their values when run (building a
# statement costs about as much CPU as running it).
_KNOWN_KEYS = select(Entry.key).where(Entry.feed_id == bindparam("feed_id"), Entry.key.in_(_in("keys")))


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """Distinct values in sorted lists of at most _CHUNK."""
    unique = sorted(set(values))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


async def known_keys(session: AsyncSession, feed_id: int, keys: Iterable[str]) -> set[str]:
    """Which of these entry keys the feed already has."""
    found: set[str] = set()
    for chunk in _chunks(keys):
        found.update((await session.scalars(_KNOWN_KEYS, {"feed_id": feed_id, "keys": chunk})).all())
    return found


@dataclass(frozen=True)
class StoredArticle:
    """What ingestion needs to know about a stored article: where it is and how much text it has."""

    id: int
    story_id: int
    content_hash: str
    url: str | None
    chars: int  # length of its cleaned text


def _stored_articles_where(column: InstrumentedAttribute[Any]) -> Select[Any]:
    """The stored articles whose `column` is among the values given as "values", newest first."""
    stmt = select(Article.id, Article.story_id, Article.content_hash, Article.url, func.length(Article.text))
    return stmt.where(column.in_(_in("values"))).order_by(Article.id.desc())


_ARTICLES_BY_HASH = _stored_articles_where(Article.content_hash)
_ARTICLES_BY_URL = _stored_articles_where(Article.url)


async def _stored_articles(session: AsyncSession, stmt: Select[Any], values: Iterable[str]) -> list[StoredArticle]:
    """The stored articles a `_stored_articles_where` statement finds for these values."""
    found = []
    for chunk in _chunks(values):
        found += [StoredArticle(*row) for row in (await session.execute(stmt, {"values": chunk})).all()]
    return found


async def articles_by_hash(session: AsyncSession, hashes: Iterable[str]) -> dict[str, StoredArticle]:
    """The stored articles with these content hashes, by hash."""
    return {a.content_hash: a for a in await _stored_articles(session, _ARTICLES_BY_HASH, hashes)}


async def articles_by_url(session: AsyncSession, urls: Iterable[str]) -> dict[str, StoredArticle]:
    """The stored article at each of these canonical URLs (the oldest when several share one), by URL."""
    return {a.url or "": a for a in await _stored_articles(session, _ARTICLES_BY_URL, urls)}  # the last row: oldest


@dataclass(frozen=True)
class FullerText:
    """A stored article's fuller text (its feed carried a lead first, a full item later)."""

    article_id: int
    text: str
    digest: str
    content_hash: str


async def replace_texts(session: AsyncSession, replacements: Sequence[FullerText]) -> None:
    """Give stored articles their fuller texts, in one batched UPDATE; rows and stories stay as they are."""
    if replacements:
        rows = [
            {"id": r.article_id, "text": r.text, "digest": r.digest, "content_hash": r.content_hash}
            for r in replacements
        ]
        await session.execute(update(Article), rows)


async def stories_updated(session: AsyncSession, digests: dict[int, str | None], now: datetime) -> None:
    """Mark stories updated at `now`, with a new digest where one is given (None keeps the old one).

    One batched UPDATE per set of columns: the stories with a new digest, and those only touched.
    """
    ordered = sorted(digests.items())
    with_digest = [{"story": story_id, "digest": digest} for story_id, digest in ordered if digest]
    touched = [{"story": story_id} for story_id, digest in ordered if not digest]
    for statement, batch in ((_NEW_DIGEST, with_digest), (_TOUCHED, touched)):
        if batch:
            await session.execute(statement, [{**row, "now": now} for row in batch])


# Core executemany statements (the ORM's bulk UPDATE by primary key costs more CPU per statement and adds nothing)
_STORY_ROW = Story.__table__.c.id == bindparam("story")
_NEW_DIGEST = update(Story.__table__).where(_STORY_ROW).values(digest=bindparam("digest"), updated_at=bindparam("now"))
_TOUCHED = update(Story.__table__).where(_STORY_ROW).values(updated_at=bindparam("now"))


async def stories_by_id(session: AsyncSession, story_ids: Iterable[int]) -> dict[int, Story]:
    """The stories with these ids, by id."""
    ids = sorted(set(story_ids))
    found: dict[int, Story] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = select(Story).where(Story.id.in_(ids[start : start + _CHUNK]))
        found.update((story.id, story) for story in (await session.scalars(stmt)).all())
    return found


_TOPICS_OF = select(StoryTopic.story_id, StoryTopic.topic_key).where(StoryTopic.story_id.in_(_in("ids")))


async def topics_of(session: AsyncSession, story_ids: Iterable[int]) -> dict[int, set[str]]:
    """The topic keys of each of these stories (stories without topics are left out)."""
    ids = sorted(set(story_ids))
    found: dict[int, set[str]] = {}
    for start in range(0, len(ids), _CHUNK):
        for story_id, key in (await session.execute(_TOPICS_OF, {"ids": ids[start : start + _CHUNK]})).all():
            found.setdefault(story_id, set()).add(key)
    return found


_STORY_TITLES = select(Story.id, Story.title).where(Story.id.in_(_in("ids")))
_STORY_TEXTS = (
    select(Article.story_id, Article.title, Article.text)
    .where(Article.story_id.in_(_in("ids")))
    .order_by(Article.story_id, Article.published_at, Article.id)
)


async def texts_of_stories(
    session: AsyncSession, story_ids: Iterable[int], limit: int = 5
) -> dict[int, tuple[str, list[str]]]:
    """Each story's headline and the texts of its first `limit` articles (oldest first), by story id."""
    ids = sorted(set(story_ids))
    if not ids:
        return {}
    titles = dict((await session.execute(_STORY_TITLES, {"ids": ids})).all())
    texts: dict[int, list[str]] = {story_id: [] for story_id in titles}
    for story_id, title, text in (await session.execute(_STORY_TEXTS, {"ids": ids})).all():
        if story_id in texts and len(texts[story_id]) < limit:
            texts[story_id].append(text or title)
    return {story_id: (titles[story_id], texts[story_id]) for story_id in titles}


async def story_topics(session: AsyncSession, story_id: int) -> set[str]:
    """The topic keys of a story."""
    stmt = select(StoryTopic.topic_key).where(StoryTopic.story_id == story_id)
    return set((await session.scalars(stmt)).all())


async def add_topics(session: AsyncSession, story_id: int, keys: Iterable[str]) -> set[str]:
    """Attach topic keys to a story; returns those that were new."""
    new = set(keys) - await story_topics(session, story_id)
    session.add_all(StoryTopic(story_id=story_id, topic_key=key) for key in sorted(new))
    await session.flush()
    return new


_STORY_SOURCES = (
    select(Article.story_id, Feed.name, Feed.title, Feed.url, Entry.url)
    .join(Entry, Entry.article_id == Article.id)
    .join(Feed, Feed.id == Entry.feed_id)
    .where(Article.story_id.in_(_in("ids")))
    .order_by(Entry.created_at, Entry.id)
)


async def story_sources(session: AsyncSession, story_ids: Sequence[int]) -> dict[int, tuple[Source, ...]]:
    """The outlets of each story, in the order they carried it."""
    if not story_ids:
        return {}
    result: dict[int, list[Source]] = {}
    seen: set[tuple[int, str]] = set()
    for story_id, name, title, feed_url, url in (await session.execute(_STORY_SOURCES, {"ids": list(story_ids)})).all():
        label = name or title or feed_url.split("/")[2]
        if (story_id, label) in seen:
            continue
        seen.add((story_id, label))
        result.setdefault(story_id, []).append(Source(label, url))
    return {story_id: tuple(sources) for story_id, sources in result.items()}


async def views(session: AsyncSession, stories: Sequence[Story]) -> list[StoryView]:
    """Stories with their sources, ready to render."""
    sources = await story_sources(session, [story.id for story in stories])
    return [
        StoryView(story.id, story.title, story.digest, story.published_at, sources.get(story.id, ()))
        for story in stories
    ]


async def latest(session: AsyncSession, topic_keys: Iterable[str] | None = None, limit: int = 5) -> list[StoryView]:
    """The most recent stories, optionally only those on some topics."""
    stmt = select(Story).order_by(Story.published_at.desc(), Story.id.desc()).limit(limit)
    if topic_keys is not None:
        keys = list(topic_keys)
        if not keys:
            return []
        on_topic = select(StoryTopic.story_id).where(StoryTopic.topic_key.in_(keys))
        stmt = stmt.where(Story.id.in_(on_topic))
    return await views(session, list((await session.scalars(stmt)).all()))


async def get_views(session: AsyncSession, story_ids: Sequence[int]) -> dict[int, StoryView]:
    """Views of the given stories, by id."""
    if not story_ids:
        return {}
    stories = (await session.scalars(select(Story).where(Story.id.in_(story_ids)))).all()
    return {view.id: view for view in await views(session, list(stories))}


async def recent_articles(session: AsyncSession, since: datetime) -> list[tuple[int, int, str, str, datetime]]:
    """(article id, story id, title, text, published) of articles stored since a time, oldest first."""
    stmt = (
        select(Article.id, Article.story_id, Article.title, Article.text, Article.published_at)
        .where(Article.created_at >= since)
        .order_by(Article.id)
    )
    return [tuple(row) for row in (await session.execute(stmt)).all()]  # type: ignore[misc]


async def count_stories_since(session: AsyncSession, since: datetime) -> int:
    """How many stories were created since a time."""
    return int(await session.scalar(select(func.count()).select_from(Story).where(Story.created_at >= since)) or 0)


async def entries_since_by_feed(session: AsyncSession, since: datetime) -> dict[int, int]:
    """How many new entries each feed gave since a time."""
    stmt = select(Entry.feed_id, func.count()).where(Entry.created_at >= since).group_by(Entry.feed_id)
    return {feed_id: count for feed_id, count in (await session.execute(stmt)).all()}


async def active_topics(session: AsyncSession, since: datetime, limit: int = 5) -> list[str]:
    """The entity topic keys (no "kw:" keywords) with the most stories created since a time, most first."""
    stmt = (
        select(StoryTopic.topic_key)
        .join(Story, Story.id == StoryTopic.story_id)
        .where(Story.created_at >= since, ~StoryTopic.topic_key.startswith("kw:"))
        .group_by(StoryTopic.topic_key)
        .order_by(func.count().desc(), StoryTopic.topic_key)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())
